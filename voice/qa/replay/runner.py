"""Running replay cases through the live call engine (``LocalDriver``), one outcome per caller turn.

The same engine, recognition, retrieval and synthesis as a phone call; only the transport differs:
audio comes from files instead of a phone line, as fast as the machine allows or paced in real time.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import soundfile as sf

from voice.core.domain import AudioClip
from voice.core.engine import Phase
from voice.core.engine_types import CallStarted, DigitsPressed, FollowUp, Transfer, UtteranceFinished
from voice.core.languages import LANGUAGES
from voice.qa.replay.sources import Case, Expectation, TurnInput
from voice.qa.wer import normalise, word_error_rate
from voice.runtime.driver import LocalDriver, PlayedItem, step_outcome
from voice.runtime.services import Services
from voice.stages.audio import AudioDecodeError, load_audio

log = logging.getLogger(__name__)
# eSpeak NG read back by Whisper base scores a WER of about 0.5-0.7 on answer openings; a broken voice, or
# one speaking another language, scores near 1.0 or is detected as another language
ROUNDTRIP_MAX_WER = 0.8


@dataclass
class TurnOutcome:
    """One caller turn after replay; ``as_json`` is the ``--json`` line and the report's row."""

    case: str
    kind: str
    turn: int
    input: str
    status: str  # ok, no_speech, unreadable, not_recorded, call_ended
    answered: bool = False  # the hotline answered or handed over (not a retry prompt, menu or key)
    transcript: str = ""
    language: str | None = None
    topic: str | None = None
    handover: bool = False
    outcome: str = ""  # answer, confirm, repeat, handover ("" for a key that only moved through a menu)
    candidates: list[str] = field(default_factory=list)  # the topics a confirmation offered
    followups: list[str] = field(default_factory=list)  # keys after a short answer: details, repeat, text
    answer: str = ""
    heard: list[dict[str, str]] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    detail: str = ""
    reference: str | None = None
    wer: float | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    compare: dict[str, Any] | None = None
    roundtrip: dict[str, Any] | None = None
    caller_audio: AudioClip | None = field(default=None, repr=False)
    answer_audio: list[bytes] = field(default_factory=list, repr=False)

    @property
    def replayed(self) -> bool:
        return self.status in ("ok", "no_speech")

    @property
    def passed(self) -> bool | None:
        """All expectations met (None: the turn had none)."""
        return all(c["ok"] for c in self.checks) if self.checks else None

    @property
    def key(self) -> str:
        return f"{self.case}#{self.turn}"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "call_id" if self.kind == "call" else "file" if self.kind == "file" else "scenario": self.case,
            "turn": self.turn,
            "input": self.input,
            "status": self.status,
            "transcript": self.transcript,
            "language": self.language,
            "topic": self.topic,
            "handover": self.handover,
            "outcome": self.outcome,
            "candidates": self.candidates,
            "followups": self.followups,
            "answered": self.answered,
            "answer": self.answer,
            "heard": self.heard,
            "latency_ms": self.latency_ms,
        }
        if self.detail:
            out["detail"] = self.detail
        if self.reference is not None:
            out["reference"], out["wer"] = self.reference, self.wer
        if self.checks:
            out["passed"], out["checks"] = self.passed, self.checks
        if self.compare is not None:
            out["compare"] = self.compare
        if self.roundtrip is not None:
            out["roundtrip"] = self.roundtrip
        return out


@dataclass(frozen=True)
class ReplayOptions:
    realtime: bool = False  # pace the caller's audio and the answers as on a real line
    roundtrip: bool = False  # transcribe each spoken answer and compare it with the answer text
    keep_audio: bool = False  # keep the caller's clip and the answer's audio for the report


def replay_case(
    services: Services,
    case: Case,
    options: ReplayOptions = ReplayOptions(),  # noqa: B008 (frozen, never mutated)
    on_turn: Callable[[TurnOutcome], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[TurnOutcome]:
    """Replay one call; ``on_turn`` sees each outcome as soon as it exists (JSON lines, progress)."""
    driver = LocalDriver(services, call_id=f"replay:{case.id}", audio_format="ulaw8k")
    driver.feed(CallStarted(driver.state.call_id, case.language, case.office_open))
    outcomes = []
    for number, turn in enumerate(case.turns, 1):
        outcome = _replay_turn(services, driver, case, number, turn, options, sleep)
        outcomes.append(outcome)
        if on_turn is not None:
            on_turn(outcome)
    return outcomes


def _describe(turn: TurnInput) -> str:
    if turn.audio is not None:
        return str(turn.audio) + (f" (channel {turn.channel})" if turn.channel else "")
    if turn.digits is not None:
        return f"keys {turn.digits}"
    return "no recording kept"


def _replay_turn(
    services: Services,
    driver: LocalDriver,
    case: Case,
    number: int,
    turn: TurnInput,
    options: ReplayOptions,
    sleep: Callable[[float], None],
) -> TurnOutcome:
    out = TurnOutcome(case.id, case.kind, number, _describe(turn), "ok", reference=turn.reference)
    if turn.stored is not None:
        out.turn = int(turn.stored.get("turn") or number)
    if driver.state.phase in (Phase.ENDED, Phase.TRANSFERRED):
        out.status, out.detail = "call_ended", f"the replayed call had already ended ({driver.state.phase.value})"
        return _finish(out, turn, options)
    if turn.audio is None and turn.digits is None:
        out.status, out.detail = "not_recorded", "no caller audio was kept for this turn (keypad or past retention)"
        return _finish(out, turn, options)
    clip = None
    if turn.audio is not None:
        try:
            clip = load_audio(turn.audio, channel=turn.channel)
        except AudioDecodeError as exc:
            out.status, out.detail = "unreadable", str(exc)
            return _finish(out, turn, options)
        if options.realtime:
            sleep(clip.duration_s)  # the caller speaking
    turns_before, plays_before = len(driver.turns), len(driver.plays)
    started = time.perf_counter()
    actions = []
    if clip is not None:
        driver.last_transcript = None
        actions = driver.feed(UtteranceFinished(clip))
    else:
        for key in turn.digits or "":
            actions.extend(driver.feed(DigitsPressed(key)))
    total = round((time.perf_counter() - started) * 1000.0, 1)
    record = driver.turns[turns_before] if len(driver.turns) > turns_before else None
    timings = dict(record.timings_ms) if record is not None else driver.pending_timings
    out.latency_ms = {"total": total, **timings}
    played = [item for _, items in driver.plays[plays_before:] for item in items]
    out.heard = [{"language": i.language, "text": i.text} for i in played]
    if clip is not None:
        t = driver.last_transcript
        out.caller_audio = clip if options.keep_audio else None
        if t is not None:
            out.transcript, out.language = t.text, t.language
            if t.no_speech:
                out.status, out.detail = "no_speech", t.detail or t.status.value
    if record is not None and record.answer is not None:
        a = record.answer
        out.topic, out.handover, out.answer, out.answered = a.topic, bool(a.handover), a.text, True
        out.language = out.language or a.language
    out.handover = out.handover or any(isinstance(a, Transfer) for a in actions)
    outcome, offered = step_outcome(driver, actions)
    out.outcome, out.candidates = outcome, list(offered)
    out.followups = [a.choice for a in actions if isinstance(a, FollowUp)]
    if options.keep_audio or options.roundtrip:
        out.answer_audio = [i.audio.data for i in played if i.audio is not None]
    if options.roundtrip and record is not None and record.answer is not None and not record.answer.handover:
        out.roundtrip = _roundtrip(services, played, record.answer.text)
    if options.realtime:
        sleep(sum(_seconds(i) for i in played))  # the caller listening
    return _finish(out, turn, options)


def _finish(out: TurnOutcome, turn: TurnInput, options: ReplayOptions) -> TurnOutcome:
    if turn.reference is not None and out.replayed:
        out.wer = round(word_error_rate(turn.reference, out.transcript), 3)
    if turn.expect is not None:
        out.checks = check(turn.expect, out)
    if turn.stored is not None:
        out.compare = compare(turn.stored, out)
    if not options.keep_audio:
        out.answer_audio = []
    return out


def check(expect: Expectation, out: TurnOutcome) -> list[dict[str, Any]]:
    """Each expectation with what happened; a turn that was not replayed fails all of them."""
    checks = []

    def add(name: str, expected: Any, actual: Any, ok: bool) -> None:
        checks.append({"check": name, "expected": expected, "actual": actual, "ok": bool(ok and out.replayed)})

    if expect.checks_topic:
        add("topic", expect.topic, out.topic, out.topic == expect.topic)
    if expect.handover is not None:
        add("handover", expect.handover, out.handover, out.handover == expect.handover)
    if expect.outcome is not None:
        add("outcome", expect.outcome, out.outcome, out.outcome == expect.outcome)
    if expect.language is not None:
        add("language", expect.language, out.language, out.language == expect.language)
    heard = set(normalise(out.transcript))
    for word in expect.transcript_contains:
        wanted = normalise(word)
        add("transcript_contains", word, out.transcript, bool(wanted) and all(w in heard for w in wanted))
    if expect.max_latency_ms is not None:
        total = out.latency_ms.get("total")
        add("max_latency_ms", expect.max_latency_ms, total, total is not None and total <= expect.max_latency_ms)
    return checks


def compare(stored: dict[str, Any], out: TurnOutcome) -> dict[str, Any]:
    """What the hotline says now against what it said when the call was made."""
    then_text = stored.get("transcript")
    then_answer = stored.get("answer_text")
    result: dict[str, Any] = {
        "transcript_then": then_text,
        "transcript_changed": None if then_text is None else normalise(then_text) != normalise(out.transcript),
        "topic_then": stored.get("topic"),
        "topic_changed": stored.get("topic") != out.topic,
        "handover_then": bool(stored.get("handover")),
        "handover_changed": bool(stored.get("handover")) != out.handover,
        # unknown for turns stored before answers were kept (schema version 3)
        "answer_changed": None if then_answer is None else then_answer.split() != out.answer.split(),
    }
    if then_text is not None:
        result["transcript_wer"] = round(word_error_rate(then_text, out.transcript), 3)
    if then_answer is not None and result["answer_changed"]:
        result["answer_then"] = then_answer
    return result


def _roundtrip(services: Services, played: list[PlayedItem], text: str) -> dict[str, Any]:
    """Speak the answer's opening sentences in its voice and transcribe them: a broken voice or a voice
    of the wrong language shows as a high WER or another detected language. Only the opening is checked:
    recognition is tuned for short questions, and the voice is the same for the whole answer."""
    item = next((i for i in played if i.text == text), None)
    if item is None:
        return {"ok": None, "detail": "the answer was not played"}
    language = item.language
    if language in LANGUAGES and not LANGUAGES[language].recognisable:
        return {"ok": None, "language": language, "detail": "speech recognition does not cover this language"}
    opening = opening_sentences(text)
    clip = _decode(services.synthesizer.render(opening, language, "pcm16k").data)  # the voice, not the line
    heard = services.transcriber.transcribe(clip, None)
    wer = round(word_error_rate(opening, heard.text), 3)
    ok = heard.language == language and wer <= ROUNDTRIP_MAX_WER
    return {"ok": ok, "language": language, "heard_language": heard.language, "heard": heard.text, "wer": wer}


def opening_sentences(text: str, min_words: int = 12, max_words: int = 40) -> str:
    """The first sentences of ``text`` holding at least ``min_words`` words (at most ``max_words``;
    Chinese counts characters)."""
    sentences = [s for s in re.split(r"(?<=[.!?。！？])\s*", text.strip()) if s]
    out: list[str] = []
    for sentence in sentences:
        if out and len(normalise(" ".join([*out, sentence]))) > max_words:
            break
        out.append(sentence)
        if len(normalise(" ".join(out))) >= min_words:
            break
    return " ".join(out) or text


def _decode(wav: bytes) -> AudioClip:
    samples, rate = sf.read(io.BytesIO(wav), dtype="float32", always_2d=False)
    if samples.ndim == 2:
        samples = samples[:, 0]
    return AudioClip(np.asarray(samples, dtype=np.float32), int(rate))


def _seconds(item: PlayedItem) -> float:
    return _decode(item.audio.data).duration_s if item.audio is not None else 0.0
