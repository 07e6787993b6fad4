"""One streaming call: caller audio in, the call engine in the middle, paced audio out.

Transport-agnostic: Twilio Media Streams and SIP both create a ``StreamSession`` with a ``CallSink`` and
feed it decoded audio, keys and marks. Nothing here blocks the transport's reading thread: engine steps
and the work they ask for (recognition, retrieval) run on the call's own thread, playout and timers on
the player's clock thread. Each call is isolated: an error ends that call, never another one.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Protocol

from voice.core.call_state import end_reason, spoken
from voice.core.domain import FloatArray, Transcript
from voice.core.engine import Phase, caller_language
from voice.core.engine_types import (
    Action,
    CallEnded,
    CallStarted,
    CollectDigits,
    DigitsPressed,
    Event,
    Hangup,
    Listen,
    NoInput,
    Play,
    PlaybackFinished,
    RecordTurn,
    SpeechStarted,
    StopPlayback,
    Transfer,
    UtteranceFinished,
)
from voice.runtime.call_record import CallRecord
from voice.runtime.driver import LocalDriver
from voice.runtime.recognition import scheduled
from voice.runtime.services import Services
from voice.runtime.stream.endpointer import Endpointer, EndpointSettings, Pause, Resume, SpeechOnset, Utterance
from voice.runtime.stream.player import FrameSink, Player, play_id_of
from voice.runtime.stream.speculative import SpeculativeAnswerer, SpeculativeTranscriber
from voice.runtime.stream.speech_source import play_audio
from voice.runtime.stream.vad import SpeechDetector

log = logging.getLogger(__name__)

_LISTENING = (Phase.LISTENING, Phase.FOLLOW_UP)
_MARK_GRACE_S = 2.0


class CallSink(FrameSink, Protocol):
    """A transport's side of a call: audio out, plus the call-control verbs."""

    def transfer(self) -> None:
        """Hand the call to a person (Twilio: <Dial> after the stream; SIP: REFER)."""
        ...

    def hangup(self) -> None: ...


@dataclass(frozen=True)
class StreamSettings:
    endpoint: EndpointSettings = field(default_factory=EndpointSettings)
    no_input_s: float = 8.0  # silence after a prompt before the engine hears NoInput


def stream_settings(services: Services) -> StreamSettings:
    """The streaming settings of the configuration (endpointer and no-input timeout)."""
    s = services.settings
    return StreamSettings(
        endpoint=EndpointSettings(
            threshold=s.vad_threshold,
            release=max(0.05, s.vad_threshold - 0.15),
            min_speech_ms=s.vad_min_speech_ms,
            trailing_silence_ms=s.vad_trailing_silence_ms,
            speculate_after_ms=s.vad_speculate_ms,
        ),
        no_input_s=s.no_input_s,
    )


class StreamSession:
    def __init__(
        self,
        services: Services,
        sink: CallSink,
        detector: SpeechDetector,
        executor: Executor,
        call_id: str,
        record: CallRecord | None = None,
        settings: StreamSettings | None = None,
        caller_number: str | None = None,
        on_finished: Callable[[StreamSession], None] = lambda _s: None,
    ) -> None:
        self.settings = settings or StreamSettings()
        self.sink = sink
        self.executor = executor
        self.record = record or CallRecord(None, None)
        self.on_finished = on_finished
        self.speculative = SpeculativeTranscriber(scheduled(services.transcriber, services.runtime.scheduler))
        self.early_answers = SpeculativeAnswerer(services.answerer)
        call_services = services.with_engines(self.speculative, self.early_answers)
        self.services = call_services
        self.driver = LocalDriver(call_services, call_id, audio_format=None, record=self.record,
                                  caller_number=caller_number)
        self.endpointer = Endpointer(detector, self.settings.endpoint)
        self.player = Player(sink, on_started=self._play_started, on_tick=self._tick)
        self._events: queue.Queue[tuple[Event, dict[str, float]]] = queue.Queue()
        self._start_lock = threading.Lock()
        self._held: list[tuple[Event, dict[str, float]]] | None = []  # posted before start(); None once started
        self._thread = threading.Thread(target=self._run, name=f"call-{call_id[:8]}", daemon=True)
        self._wait: tuple[float, float | None] | None = None  # (timeout, started) for NoInput
        self._after_playback: Action | None = None  # Transfer or Hangup once the goodbye has played
        self._answer_plays: dict[int, tuple[int, float]] = {}  # play id -> (turn, input time)
        self._input_at = time.perf_counter()
        self._last_play = 0  # the latest play queued, and the latest the far end confirmed as played
        self._confirmed = 0
        self._idle_since: float | None = None
        self._finishing = False
        self._end_reason: str | None = None
        self._closed = threading.Event()
        self.last_frame_at: float | None = None  # when caller audio was last processed (socket liveness)
        self.transfer_to: Transfer | None = None  # the hand-over the engine asked for, once it did

    # ---- transport inputs: any thread, never blocking ----------------------------------------

    def start(self, language: str | None = None, office_open: bool = True) -> None:
        texter, number = self.services.texter, self.driver.caller_number
        can_text = texter is not None and texter.can_text(number)
        with self._start_lock:  # the call starts first; keys or audio that raced the answer follow it
            self._events.put((CallStarted(self.driver.state.call_id, language, office_open, can_text), {}))
            for held in self._held or []:
                self._events.put(held)
            self._held = None
        self._thread.start()
        self.player.start()

    def audio(self, samples: FloatArray) -> None:
        """Caller audio at 8 kHz, in order, as it arrives."""
        self.last_frame_at = time.perf_counter()
        for event in self.endpointer.push(samples, self.last_frame_at):
            log.debug("call %s: %s", self.driver.state.call_id, type(event).__name__)
            if isinstance(event, SpeechOnset):
                self._wait = None  # the caller is talking: no "I did not hear you"
                self._post(SpeechStarted())
            elif isinstance(event, Pause) and self.driver.state.phase in _LISTENING:
                lang = self.driver.state.language if self.driver.state.language_locked else None
                self.speculative.start(event.audio, lang, self._look_up_early)
            elif isinstance(event, Resume):
                self.speculative.discard()
            elif isinstance(event, Utterance):
                self._input_at = time.perf_counter()
                self._post(UtteranceFinished(event.audio), {"endpoint": event.endpoint_wait_ms})

    def _look_up_early(self, transcript: Transcript) -> None:
        """Retrieval on an early transcript, in the language the engine will ask for."""
        state = self.driver.state
        language = caller_language(state, transcript)
        if transcript.no_speech or language is None:
            return
        self.early_answers.prefetch(transcript.text, spoken(state, language))

    def digit(self, key: str) -> None:
        self._wait = None
        self._input_at = time.perf_counter()
        self._post(DigitsPressed(key))

    def mark(self, name: str) -> None:
        """The far end played up to the mark ``name``."""
        play_id = play_id_of(name)
        if play_id is not None:
            self._confirmed = max(self._confirmed, play_id)
            self._post(PlaybackFinished(play_id))

    def end(self, reason: str = "hangup") -> None:
        """The caller hung up or the transport closed."""
        self._post(CallEnded(reason))

    def wait_closed(self, timeout: float | None = None) -> bool:
        return self._closed.wait(timeout)

    # ---- the call thread -----------------------------------------------------------------------

    def _post(self, event: Event, timings: dict[str, float] | None = None) -> None:
        if self._finishing:
            return
        with self._start_lock:
            if self._held is not None:  # not started yet
                self._held.append((event, timings or {}))
                return
        self._events.put((event, timings or {}))

    def _run(self) -> None:
        try:
            while True:
                event, timings = self._events.get()
                for stage, ms in timings.items():
                    self.driver.note_timing(stage, ms)
                if isinstance(event, CallEnded) and self._end_reason is None:
                    self._end_reason = end_reason(self.driver.state)
                actions = self.driver.feed(event)
                self._dispatch(actions)
                if isinstance(event, CallEnded):
                    return
        except Exception:
            log.exception("call %s failed; ending it", self.driver.state.call_id)
            self._safe(self.sink.hangup)
        finally:
            self._finish()

    def _dispatch(self, actions: list[Action]) -> None:
        state = self.driver.state
        for i, action in enumerate(actions):
            if isinstance(action, Play):
                if any(isinstance(a, RecordTurn) for a in actions[i + 1 :]):  # the reply to a question
                    self._answer_plays[action.play_id] = (state.turn, self._input_at)
                audio = play_audio(action, self.services.phrases, self.services.synthesizer)
                self._last_play = action.play_id
                self.player.enqueue(action.play_id, audio, self.executor.submit)
            elif isinstance(action, StopPlayback):
                self.player.clear()
                if action.interrupted_turn is not None:
                    self.record.update_turn(action.interrupted_turn, interrupted=True)
            elif isinstance(action, Listen):
                self._wait = (self.settings.no_input_s, None)
            elif isinstance(action, CollectDigits):
                self._wait = (float(action.timeout_s), None)
            elif isinstance(action, (Transfer, Hangup)):
                self._wait = None
                self._after_playback = action
                if isinstance(action, Transfer):
                    self.transfer_to = action  # the language and topic the transport passes on to staff

    # ---- the player's clock thread -------------------------------------------------------------

    def _tick(self) -> None:
        if not self.player.idle:
            self._idle_since = None
            if self._wait is not None:
                self._wait = (self._wait[0], None)  # the timeout counts from the end of the prompt
            return
        now = time.monotonic()
        self._idle_since = self._idle_since or now
        if self._after_playback is not None:
            # transfer or hang up once the far end has played the last words (or after a grace period)
            if self._confirmed >= self._last_play or now - self._idle_since > _MARK_GRACE_S:
                action, self._after_playback = self._after_playback, None
                self._safe(self.sink.transfer if isinstance(action, Transfer) else self.sink.hangup)
            return
        wait = self._wait
        if wait is None or self.endpointer.speaking:
            return
        timeout, started = wait
        if started is None:
            self._wait = (timeout, now)
        elif now - started >= timeout:
            self._wait = None
            self._post(NoInput())

    def _play_started(self, play_id: int) -> None:
        entry = self._answer_plays.pop(play_id, None)
        if entry is None:
            return
        turn, input_at = entry
        ms = round((time.perf_counter() - input_at) * 1000.0, 1)
        self.record.update_turn(turn, first_audio_ms=ms)

    # ---- the end -------------------------------------------------------------------------------

    def _finish(self) -> None:
        if self._finishing:
            return
        self._finishing = True
        self.player.stop()
        state = self.driver.state
        self.record.end(self._end_reason or end_reason(state), state.language, state.handovers)
        self._closed.set()
        self.on_finished(self)

    @staticmethod
    def _safe(work: Callable[[], object]) -> None:
        try:
            work()
        except Exception:
            log.exception("streaming call: side effect failed")
