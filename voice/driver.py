"""Running the call engine in-process: work actions executed inline, output actions collected.

Used by the command line (``answer-audio``) and by replay; network transports run the same engine
but execute work off their I/O loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from voice.domain import AnswerLike, Transcript
from voice.engine import CallState, step
from voice.engine_types import (
    Action,
    Answered,
    Event,
    FindAnswer,
    LookupAnswer,
    Play,
    RecordTurn,
    StageFailed,
    Transcribe,
    Transcribed,
    Utterance,
)
from voice.services import Services
from voice.tts.cache import RenderedAudio

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


class LocalDriver:
    """Feeds events to the engine and runs recognition, retrieval and synthesis in this thread."""

    def __init__(self, services: Services, call_id: str = "local", audio_format: str | None = "ulaw8k") -> None:
        self.services = services
        self.state = CallState(call_id=call_id, config=services.engine_config())
        self.audio_format = audio_format
        self.plays: list[tuple[Play, list[PlayedItem]]] = []
        self.actions: list[Action] = []
        self.turns: list[TurnRecord] = []
        self._timings: dict[str, float] = {}
        self.last_transcript: Transcript | None = None

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
        self.actions.extend(emitted)
        return emitted

    def _execute(self, action: Action) -> Event | None:
        if isinstance(action, Transcribe):
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
            started = time.perf_counter()
            self.plays.append((action, [self._render(item) for item in action.items]))
            self._timings["tts"] = self._timings.get("tts", 0.0) + _ms(started)
        if isinstance(action, RecordTurn):
            self.turns.append(TurnRecord(action.turn, action.transcript, action.answer, dict(self._timings)))
            self._timings = {}
        return None

    def _timed(self, stage: str, work: Callable[[], Event]) -> Event:
        started = time.perf_counter()
        try:
            return work()
        except Exception as exc:  # a failing stage becomes a spoken fallback, never a crash
            log.exception("stage %s failed in call %s", stage, self.state.call_id)
            return StageFailed(stage, str(exc))
        finally:
            self._timings[stage] = _ms(started)

    def _render(self, item: Utterance) -> PlayedItem:
        text = self.services.phrases.text(item)
        audio = None
        if self.audio_format is not None:
            audio = self.services.synthesizer.render(text, item.language, self.audio_format)
        return PlayedItem(text, item.language, audio)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 1)
