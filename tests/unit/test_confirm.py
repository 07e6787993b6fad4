"""Answer, confirm, repeat or hand over: the outcome policy and the engine's confirmation of a topic."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipeline.components import SafetyGate
from pipeline.result import FaqAnswer
from tests.fakes import said, tone
from voice.core.domain import Transcript
from voice.core.engine import CallState, Phase, step
from voice.core.engine_types import (
    Answered,
    CallStarted,
    CollectDigits,
    DigitsPressed,
    EngineConfig,
    FindAnswer,
    Listen,
    LookupAnswer,
    NoInput,
    Play,
    Prompt,
    RecordTurn,
    StopPlayback,
    Transcribe,
    Transcribed,
    Transfer,
    UtteranceFinished,
)
from voice.core.outcome import Outcome, OutcomePolicy, Recognition, decide, recognition

pytestmark = pytest.mark.unit

A, B = "aufenthaltserlaubnis-verlaengern", "fiktionsbescheinigung"
SURE = ANSWER = FaqAnswer(A, False, "de", "Stellen Sie den Antrag.", ["§ 81 AufenthG"], "2026-11-01", 0.93)
ANSWER_WITH_RIVAL = replace(ANSWER, candidates=[(A, 0.6), (B, 0.3), ("__out_of_scope__", 0.1)])
CONFIRM = FaqAnswer(None, True, "de", "", [], "", 0.5, outcome="confirm", offered=[A, B])
CONFIRM_ONE = FaqAnswer(None, True, "de", "", [], "", 0.5, outcome="confirm", offered=[A])
HANDOVER = FaqAnswer(None, True, "de", "", [], "", 0.2)
CHOSEN_B = FaqAnswer(B, False, "de", "Sie bekommen eine Fiktionsbescheinigung.", ["§ 81 AufenthG"], "2026-11-01", 1.0)
POLICY = OutcomePolicy(unsure_logprob=-0.5, garbled_logprob=-1.0, max_no_speech=0.6)
CONFIG = EngineConfig(
    outcome_policy=POLICY,
    confirm_titles={"de": {A: "die Verlängerung", B: "die Fiktionsbescheinigung"}},
    confirm_words={"de": {"yes": ("ja", "eins"), "two": ("zwei", "die andere"), "no": ("nein", "keins von beiden")}},
)


def heard(text: str = "verlängern", logprob: float | None = -0.2, no_speech: float = 0.01) -> Transcript:
    return replace(said(text), avg_logprob=logprob, no_speech_prob=no_speech)


def asked(answer: FaqAnswer, transcript: Transcript | None = None) -> tuple[CallState, list]:
    state, _ = step(CallState(config=CONFIG), CallStarted("c1"))
    actions = []
    for event in (UtteranceFinished(tone()), Transcribed(transcript or heard()), Answered(answer)):
        state, out = step(state, event)
        actions += out
    return state, actions


def prompt_of(actions: list) -> Prompt:
    play = next(a for a in reversed(actions) if isinstance(a, Play))
    return next(i for i in reversed(play.items) if isinstance(i, Prompt))


# ---- the policy ---------------------------------------------------------------------------------


def test_recognition_confidence_bands():
    assert recognition(None, POLICY) is Recognition.TYPED
    assert recognition(said("x"), POLICY) is Recognition.TYPED  # no confidence: typed text
    assert recognition(heard(logprob=-0.2), POLICY) is Recognition.SURE
    assert recognition(heard(logprob=-0.7), POLICY) is Recognition.UNSURE
    assert recognition(heard(logprob=-0.2, no_speech=0.9), POLICY) is Recognition.UNSURE
    assert recognition(heard(logprob=-1.4), POLICY) is Recognition.GARBLED


def test_a_sure_transcript_and_a_sure_topic_are_answered():
    assert decide(heard(), ANSWER, POLICY).outcome is Outcome.ANSWER
    assert decide(None, ANSWER, POLICY).outcome is Outcome.ANSWER


def test_an_unsure_transcript_is_never_answered_without_a_confirmation():
    d = decide(heard(logprob=-0.7), ANSWER_WITH_RIVAL, POLICY)
    assert d.outcome is Outcome.CONFIRM and d.offered == (A, B)  # with the runner-up as the second choice
    assert decide(heard(logprob=-0.7), ANSWER, POLICY).offered == (A,)


def test_garbled_speech_is_asked_again_whatever_retrieval_says():
    assert decide(heard(logprob=-1.4), ANSWER, POLICY).outcome is Outcome.REPEAT
    assert decide(heard(logprob=-1.4), CONFIRM, POLICY).outcome is Outcome.REPEAT


def test_retrieval_unsure_confirms_and_a_hand_over_heard_badly_is_asked_again():
    assert decide(heard(), CONFIRM, POLICY).offered == (A, B)
    assert decide(heard(), HANDOVER, POLICY).outcome is Outcome.HANDOVER
    assert decide(heard(logprob=-0.7), HANDOVER, POLICY).outcome is Outcome.REPEAT


def test_gate_has_three_bands():
    gate = SafetyGate(min_margin=0.3, min_similarity=0.85, max_out_of_scope=0.1, confirm_min_score=0.2,
                      confirm_min_similarity=0.8)

    def cands(p1: float, p2: float, sim: float, oos: float = 0.01) -> list[dict]:
        rows = [
            {"topic": A, "score": p1, "similarity": sim},
            {"topic": B, "score": p2, "similarity": sim - 0.02},
            {"topic": "__out_of_scope__", "score": oos, "similarity": 0.9 if oos > 0.1 else 0.7},
        ]
        return sorted(rows, key=lambda c: -c["score"])

    assert gate.decide(cands(0.8, 0.1, 0.9))["outcome"] == "answer"
    ambiguous = gate.decide(cands(0.45, 0.35, 0.9))
    assert ambiguous["outcome"] == "confirm" and ambiguous["offered"] == [A, B] and ambiguous["topic"] is None
    assert gate.decide(cands(0.8, 0.1, 0.82))["outcome"] == "confirm"  # probable, not quite close enough
    assert gate.decide(cands(0.15, 0.1, 0.9))["outcome"] == "handover"  # too improbable to offer
    assert gate.decide(cands(0.5, 0.1, 0.9, oos=0.4))["outcome"] == "handover"  # looks out of scope


# ---- the engine ---------------------------------------------------------------------------------


def test_confirmation_offers_both_titles_and_keys_choose():
    state, actions = asked(CONFIRM)
    assert state.phase is Phase.CONFIRM_TOPIC and state.offered == (A, B)
    prompt = prompt_of(actions)
    assert prompt.key == "topic_confirm"
    assert dict(prompt.params) == {"topic": "die Verlängerung", "alternative": "die Fiktionsbescheinigung"}
    assert isinstance(actions[-1], CollectDigits)
    assert not any(isinstance(a, RecordTurn) for a in actions)  # nothing answered yet
    question = state.playing
    state, actions = step(state, DigitsPressed("2"))
    assert actions[-1] == LookupAnswer(B, "de")
    assert actions[0] == StopPlayback(question, None) and state.playing is None  # the key cuts the question
    state, actions = step(state, Answered(CHOSEN_B))
    record = next(a for a in actions if isinstance(a, RecordTurn))
    assert record.outcome == "confirm" and record.offered == (A, B) and record.choice == "2"
    assert record.answer is CHOSEN_B and record.recognition == "sure"
    assert state.phase is Phase.FOLLOW_UP and state.offered == () and state.turn == 1


def test_an_unsure_transcript_of_a_sure_topic_asks_with_one_title():
    state, actions = asked(ANSWER, heard(logprob=-0.7))
    assert state.phase is Phase.CONFIRM_TOPIC and prompt_of(actions).key == "topic_confirm_single"
    state, actions = step(state, DigitsPressed("1"))
    state, actions = step(state, Answered(ANSWER))
    record = next(a for a in actions if isinstance(a, RecordTurn))
    assert record.choice == "1" and record.recognition == "unsure"
    spoken = [i for a in actions if isinstance(a, Play) for i in a.items]
    assert any(isinstance(i, Prompt) and i.key == "answer_intro" for i in spoken)


def test_no_leads_to_rephrasing_and_the_turn_is_recorded():
    state, _ = asked(ANSWER, heard(logprob=-0.7))
    state, actions = step(state, DigitsPressed("2"))  # one title offered: 2 means "no"
    record = next(a for a in actions if isinstance(a, RecordTurn))
    assert record.answer is None and record.choice == "no" and record.outcome == "confirm"
    assert prompt_of(actions).key == "rephrase_question" and isinstance(actions[-1], Listen)
    assert state.phase is Phase.FOLLOW_UP


def test_zero_hands_over_from_a_confirmation():
    state, actions = step(asked(CONFIRM)[0], DigitsPressed("0"))
    assert next(a for a in actions if isinstance(a, RecordTurn)).choice == "person"
    assert isinstance(actions[-1], Transfer) and state.phase is Phase.TRANSFERRED


def test_unclear_replies_ask_once_more_then_a_person():
    state, _ = asked(CONFIRM)
    state, actions = step(state, DigitsPressed("7"))
    assert state.phase is Phase.CONFIRM_TOPIC
    play = next(a for a in actions if isinstance(a, Play))
    assert [i.key for i in play.items if isinstance(i, Prompt)] == ["invalid_choice", "topic_confirm"]
    state, actions = step(state, NoInput())
    assert isinstance(actions[-1], Transfer)


def test_a_spoken_reply_is_understood_in_the_callers_language():
    state, _ = asked(CONFIRM)
    state, actions = step(state, UtteranceFinished(tone()))
    assert isinstance(actions[0], Transcribe) and actions[0].language == "de"  # a short reply: no detection
    state, actions = step(state, Transcribed(heard("Die andere, bitte.")))
    assert actions[-1] == LookupAnswer(B, "de")
    state, _ = asked(CONFIRM)
    state, actions = run_speech(state, "Keins von beiden.")  # holds "beiden", not a choice of two
    assert next(a for a in actions if isinstance(a, RecordTurn)).choice == "no"
    state, _ = asked(CONFIRM)
    assert run_speech(state, "1")[1][-1] == LookupAnswer(A, "de")  # a digit, as Whisper may write it


def test_a_long_reply_is_a_new_question():
    state, _ = asked(CONFIRM)
    text = "Nein warte, ich wollte eigentlich nach der Einbürgerung fragen"
    state, actions = run_speech(state, text)
    # "nein" is in it, but the rest is the caller's new question: it is looked up as such
    assert actions[-1] == FindAnswer(text, "de") and state.offered == () and state.phase is Phase.ANSWERING


def test_garbled_speech_is_asked_again_then_handed_over():
    state, _ = step(CallState(config=CONFIG), CallStarted("c1"))
    state, _ = step(state, UtteranceFinished(tone()))
    state, actions = step(state, Transcribed(heard(logprob=-1.5)))
    assert prompt_of(actions).key == "repeat_unclear" and isinstance(actions[-1], Listen)
    assert not any(isinstance(a, (RecordTurn, FindAnswer)) for a in actions)  # garbage is not even looked up
    for _ in range(2):
        state, _ = step(state, UtteranceFinished(tone()))
        state, actions = step(state, Transcribed(heard(logprob=-1.5)))
    assert isinstance(actions[-1], Transfer)


def test_an_unsure_question_retrieval_cannot_place_is_asked_again_then_handed_over():
    state, actions = asked(HANDOVER, heard(logprob=-0.7))
    assert prompt_of(actions).key == "repeat_unclear"
    for _ in range(2):
        for event in (UtteranceFinished(tone()), Transcribed(heard(logprob=-0.7)), Answered(HANDOVER)):
            state, actions = step(state, event)
    assert isinstance(actions[-1], Transfer)


def test_keypad_topics_are_answered_without_confirmation():
    state = replace(asked(CONFIRM)[0], phase=Phase.ANSWERING, offered=(), transcript=None)
    state, actions = step(state, Answered(ANSWER))
    assert next(a for a in actions if isinstance(a, RecordTurn)).outcome == "keypad"


def run_speech(state: CallState, text: str) -> tuple[CallState, list]:
    actions = []
    for event in (UtteranceFinished(tone()), Transcribed(heard(text))):
        state, out = step(state, event)
        actions += out
    return state, actions


def test_a_transcript_that_reads_back_the_vocabulary_prompt_is_not_a_question():
    from voice.stages.asr.whisper import DEFAULT_VOCABULARY, echoes_vocabulary

    echo = "Niederlassungserlaubnis, Fiktionsbescheinigung, Duldung, Chancenkarte,"
    assert echoes_vocabulary(echo, DEFAULT_VOCABULARY)
    assert echoes_vocabulary("Duldung, Chancenkarte, Familiennachzug.", DEFAULT_VOCABULARY)
    assert not echoes_vocabulary("Ich habe nur eine Duldung, darf ich eine Ausbildung machen?", DEFAULT_VOCABULARY)
    assert not echoes_vocabulary("Was ist eine Fiktionsbescheinigung?", DEFAULT_VOCABULARY)
    assert not echoes_vocabulary("Blaue Karte EU?", DEFAULT_VOCABULARY)  # one term asked about
    assert not echoes_vocabulary("Duldung", "")  # no vocabulary prompt: nothing to echo
