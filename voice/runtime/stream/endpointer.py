"""Endpointing: turns per-window speech probabilities into "speech started" and "utterance finished".

Pure logic over audio time (samples received), so it is tested with scripted probabilities and behaves
the same in real time and in replay. Short voiced bursts (a cough, a click) below ``min_speech_ms`` are
dropped and never interrupt a prompt. After ``speculate_after_ms`` of silence a ``Pause`` carries the
utterance so far, so recognition can start while the endpointer still waits for ``trailing_silence_ms``;
if the caller goes on speaking a ``Resume`` follows, otherwise the ``Utterance`` carries the very same
clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voice.core.domain import AudioClip, FloatArray
from voice.runtime.stream.vad import SpeechDetector


@dataclass(frozen=True)
class EndpointSettings:
    threshold: float = 0.5  # probability at which a window counts as speech
    release: float = 0.35  # below this a window counts as silence (hysteresis)
    min_speech_ms: int = 160  # voiced time before speech counts: barge-in and utterances
    trailing_silence_ms: int = 500  # silence that ends an utterance
    speculate_after_ms: int = 50  # silence after which recognition may start early (0: never)
    pre_roll_ms: int = 300  # audio kept from before the detected onset
    tail_ms: int = 150  # audio kept after the last voiced window
    max_utterance_ms: int = 20000


@dataclass(frozen=True)
class SpeechOnset:
    at_ms: float  # audio time when speech began (start of the first voiced window)


@dataclass(frozen=True)
class Pause:
    audio: AudioClip


@dataclass(frozen=True)
class Resume:
    pass


@dataclass(frozen=True)
class Utterance:
    audio: AudioClip
    last_voiced_ms: float  # audio time of the end of the last voiced window
    ended_ms: float  # audio time when the end was detected

    @property
    def endpoint_wait_ms(self) -> float:
        return self.ended_ms - self.last_voiced_ms


EndpointEvent = SpeechOnset | Pause | Resume | Utterance


class Endpointer:
    """One call's endpointer over telephone-rate float samples."""

    def __init__(self, detector: SpeechDetector, settings: EndpointSettings | None = None, rate: int = 8000) -> None:
        self.detector = detector
        self.settings = settings or EndpointSettings()
        self.rate = rate
        self._window = int(round(detector.chunk_ms * rate / 1000.0))
        self._audio = np.zeros(0, dtype=np.float32)  # from _start (sample index) up to now
        self._start = 0  # absolute sample index of _audio[0]
        self._scored = 0  # absolute sample index up to which windows were scored
        self._onset: int | None = None  # first voiced sample of the current candidate or utterance
        self._voiced = 0  # voiced samples since the onset
        self._last_voiced = 0  # absolute sample index of the end of the last voiced window
        self._speaking = False
        self._paused: AudioClip | None = None
        self._now: float | None = None  # clock time of the last sample pushed, where the caller gave it
        self.dropped_bursts = 0  # voiced bursts too short to count (coughs, clicks)

    def reset(self) -> None:
        """Forget the current utterance (e.g. the engine stopped listening)."""
        self._trim_to(self._scored)
        self._onset, self._voiced, self._speaking, self._paused = None, 0, False, None

    @property
    def speaking(self) -> bool:
        return self._speaking

    def push(self, samples: FloatArray, now: float | None = None) -> list[EndpointEvent]:
        """Score ``samples``; ``now`` (the clock time of their last sample) dates each utterance's end,
        the order in which the scheduler serves callers' questions."""
        self._audio = np.concatenate([self._audio, np.asarray(samples, dtype=np.float32)])
        self._now = now
        events: list[EndpointEvent] = []
        for probability in self.detector.push(samples):
            end = self._scored + self._window
            events += self._window_scored(probability, self._scored, end)
            self._scored = end
        return events

    # ---- window logic ---------------------------------------------------------------------------

    def _ms(self, samples: int) -> float:
        return samples * 1000.0 / self.rate

    def _window_scored(self, p: float, start: int, end: int) -> list[EndpointEvent]:
        s = self.settings
        if self._onset is None:
            if p >= s.threshold:
                self._onset, self._voiced, self._last_voiced = start, end - start, end
                return self._maybe_onset()
            self._trim_to(max(0, end - int(s.pre_roll_ms * self.rate / 1000)))
            return []
        voiced = p >= (s.release if self._speaking else s.threshold)  # hysteresis once speech counts
        if voiced:
            self._voiced += end - start
            self._last_voiced = end
            events: list[EndpointEvent] = []
            if self._paused is not None:
                self._paused = None
                events.append(Resume())
            return events + self._maybe_onset() + self._maybe_too_long(end)
        silence_ms = self._ms(end - self._last_voiced)
        if not self._speaking:
            if silence_ms >= min(s.trailing_silence_ms, 100):  # a short burst ended: a cough, a click
                self.dropped_bursts += 1
                self._onset, self._voiced = None, 0
            return []
        if silence_ms >= s.trailing_silence_ms:
            return [self._finish(end)]
        if s.speculate_after_ms and silence_ms >= s.speculate_after_ms and self._paused is None:
            self._paused = self._clip()
            return [Pause(self._paused)]
        return []

    def _maybe_onset(self) -> list[EndpointEvent]:
        if self._speaking or self._ms(self._voiced) < self.settings.min_speech_ms:
            return []
        self._speaking = True
        assert self._onset is not None
        return [SpeechOnset(self._ms(self._onset))]

    def _maybe_too_long(self, end: int) -> list[EndpointEvent]:
        assert self._onset is not None
        if self._speaking and self._ms(end - self._onset) >= self.settings.max_utterance_ms:
            return [self._finish(end)]
        return []

    def _clip(self) -> AudioClip:
        """The utterance: pre-roll before the onset up to a short tail after the last voiced window."""
        assert self._onset is not None
        first = max(self._start, self._onset - int(self.settings.pre_roll_ms * self.rate / 1000))
        last = min(self._start + len(self._audio), self._last_voiced + int(self.settings.tail_ms * self.rate / 1000))
        ended_at = None
        if self._now is not None:  # the last voiced sample, in clock time
            ended_at = self._now - (self._start + len(self._audio) - self._last_voiced) / self.rate
        return AudioClip(self._audio[first - self._start : last - self._start].copy(), self.rate, ended_at)

    def _finish(self, end: int) -> Utterance:
        clip = self._paused or self._clip()  # unchanged since the pause: the very same clip
        utterance = Utterance(clip, self._ms(self._last_voiced), self._ms(end))
        self._onset, self._voiced, self._speaking, self._paused = None, 0, False, None
        self._trim_to(end)
        return utterance

    def _trim_to(self, sample: int) -> None:
        if sample > self._start:
            self._audio = self._audio[sample - self._start :]
            self._start = sample
