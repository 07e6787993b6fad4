"""Running the call engine in-process: work actions executed inline, output actions collected.

Used by the command line (``answer-audio``) and by replay; network transports run the same engine
but execute work off their I/O loop.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from voice.core.call_state import Phase
from voice.core.domain import AnswerLike, AudioClip, TextSent, Transcript
from voice.core.engine import CallState, step
from voice.core.engine_types import (
    Action,
    Answered,
    Event,
    FindAnswer,
    FollowUp,
    LookupAnswer,
    Play,
    Prompt,
    RecordTurn,
    SendText,
    StageFailed,
    StoreRating,
    TextResult,
    Transcribe,
    Transcribed,
    Transfer,
    Utterance,
)
from voice.runtime.call_record import CallRecord
from voice.runtime.services import Services
from voice.stages.tts.cache import RenderedAudio

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlayedItem:
    text: str
    language: str
    audio: RenderedAudio | None


@dataclass
class TurnRecord:
    turn: int
    transcript: Transcript | None
    answer: AnswerLike | None
    timings_ms: dict[str, float] = field(default_factory=dict)
    outcome: str = ""  # answer, confirm, handover, keypad (see ``RecordTurn``)
    offered: tuple[str, ...] = ()  # the topics a confirmation offered
    choice: str | None = None  # the caller's reply to it
    recognition: str = ""  # how sure recognition was (voice.core.outcome.Recognition)


class LocalDriver:
    """Feeds events to the engine and runs recognition, retrieval and synthesis in this thread.

    Turns and the rating are written through the call's ``CallRecord``. With a stored record and
    ``HOTLINE_RECORD_CALLS`` on, each stored turn keeps the caller's question as a WAV
    file under ``<data dir>/recordings`` (``HOTLINE_RECORD_ANSWERS``: the hotline's spoken answer too),
    so every transport records the same way; ``retention`` deletes the files with the office's periods.
    """

    def __init__(
        self,
        services: Services,
        call_id: str = "local",
        audio_format: str | None = "ulaw8k",
        record: CallRecord | None = None,
        caller_number: str | None = None,
    ) -> None:
        self.record = record or CallRecord(None, None)
        self.caller_number = caller_number  # only to send the SMS the caller asks for; never stored
        self.services = services
        self.state = CallState(call_id=call_id, config=services.engine_config())
        self.audio_format = audio_format
        self.plays: list[tuple[Play, list[PlayedItem]]] = []
        self.turns: list[TurnRecord] = []
        self.followups: dict[int, list[str]] = {}  # turn -> what the caller chose after its short answer
        self._timings: dict[str, float] = {}
        self.last_transcript: Transcript | None = None
        self.last_clip: AudioClip | None = None  # the caller audio of the question being answered
        settings = getattr(services, "settings", None)
        self.recordings_dir: Path | None = None
        self.record_answers = False
        if self.record.keeps and settings is not None and settings.record_calls:
            self.recordings_dir = settings.data_dir / "recordings"
            self.record_answers = settings.record_answers

    def feed(self, event: Event) -> list[Action]:
        """Apply ``event`` and every follow-up event that in-process work produces."""
        emitted: list[Action] = []
        pending: list[Event] = [event]
        while pending:
            self.state, actions = step(self.state, pending.pop(0))
            for action in actions:
                follow_up = self._execute(action)
                if follow_up is not None:
                    pending.append(follow_up)
                emitted.append(action)
        return emitted

    def note_timing(self, stage: str, ms: float) -> None:
        """A timing measured by the transport (e.g. endpointing), stored with the next turn."""
        self._timings[stage] = round(ms, 1)

    @property
    def pending_timings(self) -> dict[str, float]:
        """Stage timings measured since the last recorded turn (a retry prompt, a menu)."""
        return dict(self._timings)

    def _execute(self, action: Action) -> Event | None:
        if isinstance(action, Transcribe):
            self.last_clip = action.audio
            event = self._timed(
                "asr", lambda: Transcribed(self.services.transcriber.transcribe(action.audio, action.language))
            )
            if isinstance(event, Transcribed):
                self.last_transcript = event.transcript
            return event
        if isinstance(action, LookupAnswer):
            return self._timed(
                "retrieval", lambda: Answered(self.services.answerer.answer_topic(action.topic, action.language))
            )
        if isinstance(action, FindAnswer):
            return self._timed(
                "retrieval", lambda: Answered(self.services.answerer.answer(action.text, action.language))
            )
        if isinstance(action, Play):
            log.debug("call %s plays %s", self.state.call_id,
                      " + ".join(i.key if isinstance(i, Prompt) else "an answer" for i in action.items))
            started = time.perf_counter()
            self.plays.append((action, [self._render(item) for item in action.items]))
            self._timings["tts"] = self._timings.get("tts", 0.0) + _ms(started)
            self.services.runtime.metrics.observe("tts", time.perf_counter() - started)
        if isinstance(action, RecordTurn):
            record = TurnRecord(
                action.turn,
                action.transcript,
                action.answer,
                dict(self._timings),
                action.outcome,
                action.offered,
                action.choice,
                action.recognition,
            )
            self.turns.append(record)
            topic = action.answer.topic if action.answer is not None else None
            log.info("call %s turn %d: %s%s", self.state.call_id, action.turn, action.outcome or "keypad",
                     f" ({topic}, chosen {action.choice})" if action.choice else f" ({topic})" if topic else "")
            self._timings = {}
            if self.record.keeps:
                self.record.turn(self._with_recordings(stored_turn(record)))
            self.last_clip = None
        if isinstance(action, StoreRating):
            self.record.rating(action.rating)
        if isinstance(action, SendText):
            return self._send_text(action)
        if isinstance(action, FollowUp):
            chosen = self.followups.setdefault(action.turn, [])
            chosen.append(action.choice)
            self.record.update_turn(action.turn, followups=",".join(chosen)[-60:])
        return None

    def _send_text(self, action: SendText) -> Event:
        texter = self.services.texter
        if texter is None or not self.caller_number:
            sent = TextSent("refused")
        else:
            sent = texter.send_answer(self.caller_number, action.topic, action.language)
        self.record.update_turn(action.turn, sms_status=sent.status, sms_segments=sent.segments,
                                sms_id=sent.message_id or None)
        return TextResult(sent.status, sent.segments)

    def _with_recordings(self, row: Any) -> Any:
        """The stored turn with the paths of its recordings (never fails the call: logged instead)."""
        if self.recordings_dir is None:
            return row
        day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        stem = self.recordings_dir / day / f"{self.record.id}-t{row.turn}"
        paths: dict[str, str] = {}
        try:
            from voice.stages.audio import join_wavs, write_wav

            if self.last_clip is not None:
                paths["audio_path"] = str(write_wav(self.last_clip, stem.with_name(stem.name + "-caller.wav")))
            if self.record_answers and self.plays:
                _, items = self.plays[-1]
                wavs = [self._audio_of(item) for item in items]
                answer = join_wavs([w for w in wavs if w], rate=8000)
                paths["answer_audio_path"] = str(write_wav(answer, stem.with_name(stem.name + "-hotline.wav")))
        except Exception:
            log.exception("could not keep the recording of turn %d in call %s", row.turn, self.record.id)
        return replace(row, **paths)

    def _audio_of(self, item: PlayedItem) -> bytes | None:
        if item.audio is not None:
            return item.audio.data
        try:
            return self.services.synthesizer.render(item.text, item.language, "ulaw8k").data  # what the line plays
        except Exception:
            log.warning("no audio for a recorded answer item in %s", item.language)
            return None

    def _timed(self, stage: str, work: Callable[[], Event]) -> Event:
        started = time.perf_counter()
        failed = False
        try:
            return work()
        except Exception as exc:  # a failing stage becomes a spoken fallback, never a crash
            failed = True
            log.exception("stage %s failed in call %s", stage, self.state.call_id)
            return StageFailed(stage, str(exc))
        finally:
            self._timings[stage] = _ms(started)
            self.services.runtime.metrics.observe(stage, time.perf_counter() - started, failed)

    def _render(self, item: Utterance) -> PlayedItem:
        text = self.services.phrases.text(item)
        audio = None
        if self.audio_format is not None:
            audio = self.services.synthesizer.render(text, item.language, self.audio_format)
        return PlayedItem(text, item.language, audio)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 1)


def stored_turn(record: TurnRecord) -> Any:
    """The database row of a turn (imported lazily: the CLI needs no database)."""
    from voice.storage.store import TurnRecord as Row

    t, a = record.transcript, record.answer
    return Row(
        turn=record.turn,
        status=t.status.value if t else "keypad",
        transcript=t.text if t else None,
        language=t.language if t else None,
        language_probability=t.language_probability if t else None,
        topic=a.topic if a else None,
        handover=bool(a.handover) if a else False,
        score=a.score if a else None,
        answer_language=a.language if a else None,
        asr_ms=record.timings_ms.get("asr"),
        retrieval_ms=record.timings_ms.get("retrieval"),
        tts_ms=record.timings_ms.get("tts"),
        endpoint_ms=record.timings_ms.get("endpoint"),
        answer_text=a.text if a else None,
        outcome=record.outcome or None,
        confirm_offered=",".join(record.offered) or None,
        confirm_choice=record.choice,
        asr_logprob=t.avg_logprob if t else None,
    )


def step_outcome(driver: LocalDriver, actions: list[Action]) -> tuple[str, tuple[str, ...]]:
    """What the hotline did in the step that produced ``actions``: ``answer``, ``confirm`` (with the topics
    offered), ``repeat`` (heard, but too unsure to act on), ``handover``; empty for a menu or key step.
    Shared by replay, the spoken evaluation and ``simulate-call``."""
    state = driver.state
    if state.phase is Phase.CONFIRM_TOPIC:
        return "confirm", state.offered
    if driver.turns and any(isinstance(a, RecordTurn) for a in actions):
        answer = driver.turns[-1].answer
        return ("answer" if answer is not None and not answer.handover else "handover"), ()
    if any(isinstance(a, Transfer) for a in actions):
        return "handover", ()
    heard = driver.last_transcript if any(isinstance(a, Transcribe) for a in actions) else None
    if heard is not None and not heard.no_speech and state.phase in (Phase.LISTENING, Phase.FOLLOW_UP):
        return "repeat", ()
    return "", ()


def turn_summary(driver: LocalDriver, actions: list[Action]) -> dict[str, Any]:
    """What the hotline heard and did in the step that produced ``actions`` (for simulators and QA):
    ``outcome`` (see ``step_outcome``), ``topic`` and the first sentence of an answer."""
    t = driver.last_transcript
    outcome, offered = step_outcome(driver, actions)
    out: dict[str, Any] = {"outcome": outcome, "topic": None, "candidates": list(offered), "answer": ""}
    if t is not None and any(isinstance(a, Transcribe) for a in actions):
        out.update(heard=t.text, language=t.language, language_probability=round(t.language_probability, 2))
    if outcome == "answer":
        answer = driver.turns[-1].answer
        assert answer is not None
        out.update(topic=answer.topic, answer=answer.text.split(". ")[0].strip())
    return out
