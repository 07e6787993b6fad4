"""What the hotline does with a question: answer it, confirm the topic first, ask again, or hand over.

Retrieval judges the words (``AnswerLike.outcome``: answer, confirm or hand-over); recognition judges
how sure it was of the words (``Transcript.avg_logprob``, ``no_speech_prob``). A legal answer needs
both: a transcript that recognition was unsure of is never answered without the caller confirming the
topic, and one it was very unsure of (garbled speech, noise) is not looked at at all: the caller is asked
to say the question again. Pure functions, shared by the call engine and the evaluations.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pipeline.result import MIN_OFFERED_SCORE, OUT_OF_SCOPE
from voice.core.domain import AnswerLike, Transcript


class Outcome(StrEnum):
    ANSWER = "answer"
    CONFIRM = "confirm"  # "Is your question about …? Press 1 …, 2 for …"
    REPEAT = "repeat"  # "I did not understand that well, could you say it again?"
    HANDOVER = "handover"


class Recognition(StrEnum):
    """How sure speech recognition was of a transcript."""

    TYPED = "typed"  # not recognised from audio (typed text, keypad): nothing to doubt
    SURE = "sure"
    UNSURE = "unsure"
    GARBLED = "garbled"


@dataclass(frozen=True)
class OutcomePolicy:
    """Recognition thresholds (calibrated on spoken development questions, ``bench/calibrate_asr.py``).

    Attributes:
        unsure_logprob: Mean token log-probability below which a transcript needs a confirmation.
        garbled_logprob: Below this the transcript is not used: the caller is asked to repeat.
        max_no_speech: Whisper's no-speech probability above which a transcript counts as unsure.
    """

    unsure_logprob: float = -0.45
    garbled_logprob: float = -0.9
    max_no_speech: float = 0.3


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    offered: tuple[str, ...] = ()  # the topics a confirmation offers, most probable first
    recognition: Recognition = Recognition.TYPED


def recognition(t: Transcript | None, policy: OutcomePolicy) -> Recognition:
    if t is None or t.avg_logprob is None:
        return Recognition.TYPED
    if t.avg_logprob < policy.garbled_logprob:
        return Recognition.GARBLED
    if t.avg_logprob < policy.unsure_logprob or (t.no_speech_prob or 0.0) > policy.max_no_speech:
        return Recognition.UNSURE
    return Recognition.SURE


def decide(t: Transcript | None, answer: AnswerLike, policy: OutcomePolicy) -> Decision:
    """Combine retrieval's verdict on the words with recognition's confidence in them."""
    heard = recognition(t, policy)
    if heard is Recognition.GARBLED:
        return Decision(Outcome.REPEAT, recognition=heard)
    unsure = heard is Recognition.UNSURE
    if answer.outcome == Outcome.ANSWER and answer.topic:
        if not unsure:
            return Decision(Outcome.ANSWER, recognition=heard)
        return Decision(Outcome.CONFIRM, _with_runner_up(answer.topic, answer), heard)
    if answer.outcome == Outcome.CONFIRM and answer.offered:
        return Decision(Outcome.CONFIRM, tuple(answer.offered[:2]), heard)
    # retrieval found nothing it could stand behind: a question heard badly deserves a second try
    return Decision(Outcome.REPEAT if unsure else Outcome.HANDOVER, recognition=heard)


def _with_runner_up(topic: str, answer: AnswerLike) -> tuple[str, ...]:
    others = [t for t, score in answer.candidates if t not in (topic, OUT_OF_SCOPE) and score >= MIN_OFFERED_SCORE]
    return (topic, *others[:1])
