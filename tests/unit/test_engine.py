"""The call engine as a pure state machine: events in, actions out."""

from __future__ import annotations

import pytest

from pipeline.result import FaqAnswer
from tests.fakes import SILENCE, said, tone
from voice.core.domain import SpeechStatus, Transcript
from voice.core.engine import CallState, Phase, step
from voice.core.engine_types import (
    Answered,
    CallEnded,
    CallStarted,
    CollectDigits,
    DigitsPressed,
    EngineConfig,
    FindAnswer,
    Hangup,
    Listen,
    NoInput,
    Play,
    PlaybackFinished,
    Prompt,
    RecordTurn,
    SpeechStarted,
    SpokenText,
    StageFailed,
    StopPlayback,
    StoreRating,
    Transcribe,
    Transcribed,
    Transfer,
    UtteranceFinished,
    UtteranceUnreadable,
)

pytestmark = pytest.mark.unit

ANSWER = FaqAnswer(
    "aufenthaltserlaubnis-verlaengern", False, "de", "Stellen Sie den Antrag.", ["§ 81 AufenthG"], "2026-11-01", 0.93
)
HANDOVER = FaqAnswer(None, True, "de", "", [], "", 0.7)


def keys(play: Play) -> list[str]:
    return [i.key if isinstance(i, Prompt) else "<text>" for i in play.items]


def run(state: CallState, *events):
    actions = []
    for event in events:
        state, out = step(state, event)
        actions.extend(out)
    return state, actions


def started(config: EngineConfig | None = None, office_open: bool = True) -> CallState:
    state, _ = step(CallState(config=config or EngineConfig()), CallStarted("c1", office_open=office_open))
    return state


def test_call_start_greets_and_listens():
    state, actions = step(CallState(), CallStarted("c1"))
    assert state.phase is Phase.LISTENING and state.call_id == "c1"
    assert isinstance(actions[0], Play) and keys(actions[0]) == ["greeting", "multilingual_hint", "ask_question"]
    assert isinstance(actions[1], Listen)


def test_recorded_calls_hear_the_recording_notice_in_the_greeting():
    state, actions = step(CallState(config=EngineConfig(recording_notice=True)), CallStarted("c1"))
    assert isinstance(actions[0], Play)
    assert keys(actions[0]) == ["greeting", "recording_notice", "multilingual_hint", "ask_question"]


def test_question_is_transcribed_then_answered_in_detected_language():
    state = started()
    state, actions = step(state, UtteranceFinished(tone()))
    assert state.phase is Phase.TRANSCRIBING and isinstance(actions[0], Transcribe)
    assert actions[0].language is None  # detect: the caller has not chosen a language
    state, actions = step(state, Transcribed(said("How do I extend?", "en")))
    assert actions == [FindAnswer("How do I extend?", "en")]
    assert state.language == "en"


def test_answer_is_played_with_legal_basis_disclaimer_and_follow_up():
    state = started()
    state, actions = run(state, UtteranceFinished(tone()), Transcribed(said("verlängern")), Answered(ANSWER))
    play, record, listen = actions[-3:]
    assert isinstance(record, RecordTurn) and record.turn == 1 and record.answer is ANSWER
    assert keys(play) == ["answer_intro", "<text>", "legal_basis_intro", "disclaimer", "another_question"]
    assert isinstance(play.items[1], SpokenText) and play.items[1].text == ANSWER.text
    assert dict(play.items[2].params)["legal_basis"] == "§ 81 AufenthG"
    assert isinstance(listen, Listen) and state.phase is Phase.FOLLOW_UP
    # the disclaimer is said once per call, not after every answer
    state, actions = run(state, UtteranceFinished(tone()), Transcribed(said("verlängern")), Answered(ANSWER))
    play = next(a for a in actions if isinstance(a, Play))
    assert "disclaimer" not in keys(play)


def test_unsure_language_is_confirmed_before_answering():
    state = started()
    state, actions = run(state, UtteranceFinished(tone()), Transcribed(said("oturma izni", "tr", probability=0.4)))
    assert state.phase is Phase.CONFIRM_LANGUAGE
    assert actions[-2].items == (Prompt("language_confirm", "tr", (("language", "tr"),)),)
    assert isinstance(actions[-1], CollectDigits)
    confirmed, actions = step(state, DigitsPressed("1"))
    assert actions == [FindAnswer("oturma izni", "tr")] and confirmed.language_locked
    refused, actions = step(state, DigitsPressed("2"))
    assert refused.phase is Phase.LANGUAGE_MENU and refused.language == "de"


def test_unsure_detection_of_the_current_language_needs_no_confirmation():
    state = started()
    state, actions = run(state, UtteranceFinished(tone()), Transcribed(said("hm", "de", probability=0.4)))
    assert actions[-1] == FindAnswer("hm", "de")


def test_handover_transfers_when_office_is_open():
    state = started(office_open=True)
    state, actions = run(state, UtteranceFinished(tone()), Transcribed(said("Wetter")), Answered(HANDOVER))
    assert isinstance(actions[-1], Transfer) and isinstance(actions[-2], RecordTurn)
    assert keys(actions[-3]) == ["unsure_handover", "transfer"]
    assert state.phase is Phase.TRANSFERRED


def test_handover_outside_hours_gives_contact_channels_and_continues():
    state = started(office_open=False)
    state, actions = run(state, UtteranceFinished(tone()), Transcribed(said("Wetter")), Answered(HANDOVER))
    assert not any(isinstance(a, Transfer) for a in actions)
    assert keys(actions[-3]) == ["unsure_handover", "out_of_hours", "another_question"]
    assert isinstance(actions[-2], RecordTurn) and isinstance(actions[-1], Listen)


def test_silence_reprompts_then_hands_over_after_retries():
    state = started(EngineConfig(max_retries=2))
    for _ in range(2):
        state, actions = run(state, UtteranceFinished(tone()), Transcribed(SILENCE))
        assert keys(actions[-2]) == ["no_speech"] and isinstance(actions[-1], Listen)
    state, actions = run(state, UtteranceFinished(tone()), Transcribed(SILENCE))
    assert any(isinstance(a, Transfer) for a in actions)


def test_unreadable_audio_asks_to_repeat():
    state = started()
    state, actions = step(state, UtteranceUnreadable("download failed"))
    assert keys(actions[0]) == ["not_understood"] and isinstance(actions[1], Listen)


def test_rating_flow_stores_valid_digit_and_says_goodbye():
    state = started()
    state, _ = run(state, UtteranceFinished(tone()), Transcribed(said("verlängern")), Answered(ANSWER))
    answer = state.playing
    state, actions = step(state, DigitsPressed("#"))
    assert actions[0] == StopPlayback(answer, 1)  # "#" during the answer cuts it: the answer was interrupted
    assert keys(actions[1]) == ["rating_request"] and isinstance(actions[2], CollectDigits)
    state, actions = step(state, DigitsPressed("4"))
    assert isinstance(actions[0], StopPlayback) and actions[1] == StoreRating(4)
    assert keys(actions[2]) == ["rating_thanks", "goodbye"] and isinstance(actions[3], Hangup)
    assert state.rating == 4 and state.phase is Phase.ENDED


@pytest.mark.parametrize("garbage", ["9", "*", "", "abc", "0"])
def test_invalid_rating_gets_one_reprompt_then_goodbye(garbage):
    state = started()
    state, _ = run(
        state, UtteranceFinished(tone()), Transcribed(said("verlängern")), Answered(ANSWER), DigitsPressed("#")
    )
    state, actions = step(state, DigitsPressed(garbage))
    assert keys(next(a for a in actions if isinstance(a, Play))) == ["rating_invalid"]
    state, actions = step(state, DigitsPressed(garbage))
    assert not any(isinstance(a, StoreRating) for a in actions) and isinstance(actions[-1], Hangup)


def test_max_turns_leads_to_rating():
    state = started(EngineConfig(max_turns=1))
    state, actions = run(state, UtteranceFinished(tone()), Transcribed(said("verlängern")), Answered(ANSWER))
    assert state.phase is Phase.RATING and isinstance(actions[-1], CollectDigits)


def test_zero_asks_for_a_person_at_any_time():
    state = started()
    state, actions = step(state, DigitsPressed("0"))
    assert isinstance(actions[0], StopPlayback)  # the greeting is cut
    assert keys(actions[1]) == ["transfer"] and isinstance(actions[-1], Transfer)


def test_barge_in_stops_playback_but_not_twice():
    state = started()
    greeting = state.playing
    assert greeting is not None
    state, actions = step(state, SpeechStarted())
    assert actions == [StopPlayback(greeting, None)] and state.playing is None
    state, actions = step(state, SpeechStarted())
    assert actions == []


def test_barge_in_during_an_answer_names_the_interrupted_turn():
    state = started()
    state, actions = run(state, UtteranceFinished(tone()), Transcribed(said("verlängern")), Answered(ANSWER))
    answer_play = next(a for a in actions if isinstance(a, Play))
    assert state.answer_play == answer_play.play_id == state.playing
    state, actions = step(state, SpeechStarted())
    assert actions == [StopPlayback(answer_play.play_id, 1)]


def test_a_key_that_leads_somewhere_cuts_the_prompt_first():
    state = started()
    greeting = state.playing
    state, actions = step(state, DigitsPressed("*"))  # language menu
    assert actions[0] == StopPlayback(greeting, None) and isinstance(actions[1], Play)
    state, _ = step(state, PlaybackFinished(actions[1].play_id))
    state, actions = step(state, DigitsPressed("2"))
    assert not any(isinstance(a, StopPlayback) for a in actions)  # nothing was playing


def test_playback_finished_clears_only_the_current_play():
    state = started()
    current = state.playing
    state, _ = step(state, PlaybackFinished(999))
    assert state.playing == current
    state, _ = step(state, PlaybackFinished(current))
    assert state.playing is None


def test_stage_failure_is_spoken_never_raised():
    state = started()
    state, _ = step(state, UtteranceFinished(tone()))
    state, actions = step(state, StageFailed("asr", "boom"))
    assert keys(actions[0]) == ["technical_fallback", "ask_question"]  # apologise, let the caller retry
    assert isinstance(actions[-1], Listen)
    for _ in range(state.config.max_retries):
        state, _ = step(state, UtteranceFinished(tone()))
        state, actions = step(state, StageFailed("asr", "boom"))
    assert keys(actions[0]) == ["technical_fallback", "transfer"]
    assert isinstance(actions[-1], Transfer)  # repeated failures: a person


def test_language_without_voice_speaks_the_fallback_and_says_so():
    config = EngineConfig(voice_fallbacks={"ps": "fa"})
    state = started(config)
    state, actions = run(state, UtteranceFinished(tone()), Transcribed(said("پوښتنه", "ps")))
    assert actions[-1] == FindAnswer("پوښتنه", "fa")  # the answer text comes in Persian
    answer = FaqAnswer("x", False, "fa", "پاسخ", ["§ 1"], "2026-11-01", 0.9)
    state, actions = step(state, Answered(answer))
    play = next(a for a in actions if isinstance(a, Play))
    assert play.items[0] == Prompt("no_voice_for_language", "fa", (("language", "ps"), ("fallback_language", "fa")))
    assert all(i.language == "fa" for i in play.items)


def test_events_after_the_call_ended_are_ignored():
    state = started()
    state, _ = step(state, CallEnded())
    for event in (DigitsPressed("1"), NoInput(), UtteranceFinished(tone()), Transcribed(said("x"))):
        state, actions = step(state, event)
        assert actions == [] and state.phase is Phase.ENDED


def test_out_of_phase_events_are_ignored():
    state = started()
    state, actions = step(state, Answered(ANSWER))  # no question asked yet
    assert actions == [] and state.phase is Phase.LISTENING
    state, actions = step(state, Transcribed(Transcript("x", "de", 1.0, 1.0, SpeechStatus.OK)))
    assert actions == []
