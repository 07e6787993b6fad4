"""Short answers first, details on request: the engine's menu after a short answer."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipeline.result import FaqAnswer
from tests.fakes import said, tone
from voice.core.engine import CallState, Phase, step
from voice.core.engine_types import (
    Answered,
    CallStarted,
    CollectDigits,
    DigitsPressed,
    EngineConfig,
    FollowUp,
    Listen,
    NoInput,
    Play,
    Prompt,
    RecordTurn,
    SendText,
    SpokenText,
    StopPlayback,
    TextResult,
    Transcribe,
    Transcribed,
    UtteranceFinished,
)

pytestmark = pytest.mark.unit

FULL = "Stellen Sie den Antrag rechtzeitig, am besten 6 bis 8 Wochen vor dem Ablauf. Bringen Sie Ihren Pass mit."
SHORT = "Stellen Sie den Antrag 6 bis 8 Wochen vor dem Ablauf."
ANSWER = FaqAnswer("aufenthaltserlaubnis-verlaengern", False, "de", FULL, ["§ 81 AufenthG"], "2026-11-01", 0.93,
                   short=SHORT)


def keys(play: Play) -> list[str]:
    said = [i for i in play.items if isinstance(i, (Prompt, SpokenText))]
    return [i.key if isinstance(i, Prompt) else f"<{i.text}>" for i in said]


def run(state: CallState, *events):
    actions = []
    for event in events:
        state, out = step(state, event)
        actions.extend(out)
    return state, actions


def answered(config: EngineConfig | None = None, answer: FaqAnswer = ANSWER) -> tuple[CallState, list]:
    state, _ = step(CallState(config=config or EngineConfig()), CallStarted("c1"))
    return run(state, UtteranceFinished(tone()), Transcribed(said("verlängern")), Answered(answer))


def test_the_short_answer_comes_with_the_legal_basis_and_the_menu():
    state, actions = answered()
    play, record, listen = actions[-3:]
    assert keys(play) == ["answer_intro", f"<{SHORT}>", "legal_basis_intro", "disclaimer", "answer_menu"]
    assert isinstance(record, RecordTurn) and record.answer is ANSWER
    assert isinstance(listen, Listen) and "1" in listen.digits and "3" in listen.digits  # record mode ends on them
    assert state.phase is Phase.FOLLOW_UP and state.answer_play == play.play_id


def test_one_plays_the_details_once_and_is_recorded():
    state, _ = answered()
    state, actions = step(state, DigitsPressed("1"))
    stop, play, follow, listen = actions
    # the key cuts the short answer; the turn records the choice, not a barge-in
    assert isinstance(stop, StopPlayback) and stop.interrupted_turn is None
    assert keys(play) == [f"<{FULL}>", "another_question"] and follow == FollowUp(1, "details")
    assert isinstance(listen, Listen) and listen.digits == Listen().digits
    state, actions = step(state, DigitsPressed("1"))  # the menu is closed after the details
    assert actions == []


def test_three_repeats_the_short_answer_and_keeps_the_menu_open():
    state, _ = answered()
    state, actions = run(state, DigitsPressed("3"))
    play = next(a for a in actions if isinstance(a, Play))
    assert keys(play) == [f"<{SHORT}>", "answer_menu"] and FollowUp(1, "repeat") in actions
    state, actions = step(state, DigitsPressed("1"))
    assert FollowUp(1, "details") in actions


def test_a_new_question_closes_the_menu_and_hash_and_silence_go_to_the_rating():
    state, _ = answered()
    state, actions = step(state, UtteranceFinished(tone()))
    assert isinstance(actions[0], Transcribe) and state.short_answer is None
    state, _ = answered()
    state, actions = step(state, DigitsPressed("#"))
    assert state.phase is Phase.RATING and isinstance(actions[-1], CollectDigits)
    state, _ = answered()
    state, actions = step(state, NoInput())
    assert state.phase is Phase.RATING


def test_full_answers_where_there_is_no_short_one_on_the_last_turn_and_for_keypad_languages():
    state, actions = answered(answer=replace(ANSWER, short=""))
    play = next(a for a in actions if isinstance(a, Play))
    assert f"<{FULL}>" in keys(play) and "answer_menu" not in keys(play)
    assert step(state, DigitsPressed("1"))[1] == []  # no menu to answer
    state, actions = answered(EngineConfig(max_turns=1))
    play = next(a for a in actions if isinstance(a, Play))
    assert f"<{FULL}>" in keys(play) and state.phase is Phase.RATING


def texting() -> tuple[CallState, list]:
    state, _ = step(CallState(), CallStarted("c1", can_text=True))
    return run(state, UtteranceFinished(tone()), Transcribed(said("verlängern")), Answered(ANSWER))


def test_two_sends_the_written_answer_where_the_call_can_get_an_sms():
    state, actions = texting()
    play, _, listen = actions[-3:]
    assert keys(play)[-1] == "answer_menu_sms" and "2" in listen.digits
    state, actions = step(state, DigitsPressed("2"))
    assert isinstance(actions[0], StopPlayback) and actions[0].interrupted_turn is None  # a choice, not a barge-in
    assert actions[1:] == [FollowUp(1, "text"), SendText(1, "aufenthaltserlaubnis-verlaengern", "de")]
    state, actions = step(state, TextResult("sent", 2))
    assert keys(actions[0]) == ["sms_sent", "another_question"] and isinstance(actions[1], Listen)
    assert step(state, DigitsPressed("2"))[1] == []  # one message per answer: the menu is closed


@pytest.mark.parametrize(("status", "prompt"), [("refused", "sms_unavailable"), ("failed", "sms_failed")])
def test_a_refused_or_failed_sms_is_told_with_the_web_page_and_the_call_goes_on(status, prompt):
    state, _ = texting()
    state, _ = step(state, DigitsPressed("2"))
    state, actions = step(state, TextResult(status))
    assert keys(actions[0]) == [prompt, "another_question"] and state.phase is Phase.FOLLOW_UP


def test_without_sms_two_is_not_a_menu_key():
    state, actions = answered()
    assert "2" not in actions[-1].digits and step(state, DigitsPressed("2"))[1] == []
