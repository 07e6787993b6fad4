"""Streaming voice-activity detection with the Silero VAD model that ships with faster-whisper.

The ONNX model is loaded once per process and shared; each call keeps its own recurrent state, the
last samples of context, and a resampler from telephone rate (8 kHz) to the model's 16 kHz.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

import numpy as np
import soxr

from voice.core.domain import FloatArray

VAD_RATE = 16000
CHUNK = 512  # samples at 16 kHz = 32 ms: the model's window
_CONTEXT = 64  # samples of the previous window the model sees in front of each window


class SpeechDetector(Protocol):
    """Per-call speech probabilities for consecutive audio frames."""

    chunk_ms: float

    def push(self, samples: FloatArray) -> list[float]:
        """Feed telephone-rate samples; returns one probability per completed 32 ms window."""
        ...


class SileroModel:
    """The shared ONNX session (thread-safe: the recurrent state is passed in and out)."""

    _instance: SileroModel | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        from faster_whisper.vad import get_vad_model

        self.session: Any = get_vad_model().session

    @classmethod
    def shared(cls) -> SileroModel:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def detector(self, sample_rate: int = 8000) -> SileroStream:
        return SileroStream(self, sample_rate)


class SileroStream:
    """One call's detector state."""

    chunk_ms = CHUNK * 1000.0 / VAD_RATE

    def __init__(self, model: SileroModel, sample_rate: int) -> None:
        self.model = model
        # telephone audio is doubled by linear interpolation: no filter delay, and detection needs no more
        self._double = sample_rate * 2 == VAD_RATE
        self._previous = np.float32(0.0)
        same = sample_rate == VAD_RATE or self._double
        self._resampler = None if same else soxr.ResampleStream(sample_rate, VAD_RATE, 1, dtype="float32")
        self._pending = np.zeros(0, dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)

    def push(self, samples: FloatArray) -> list[float]:
        audio = np.asarray(samples, dtype=np.float32)
        if self._double and len(audio):
            doubled = np.empty(2 * len(audio), dtype=np.float32)
            doubled[1::2] = audio
            doubled[0::2] = (np.concatenate([[self._previous], audio[:-1]]) + audio) / 2
            self._previous = audio[-1]
            audio = doubled
        elif self._resampler is not None:
            audio = self._resampler.resample_chunk(audio)
        self._pending = np.concatenate([self._pending, audio])
        probabilities = []
        while len(self._pending) >= CHUNK:
            window, self._pending = self._pending[:CHUNK], self._pending[CHUNK:]
            batch = np.concatenate([self._context, window])[None, :]
            out, self._h, self._c = self.model.session.run(None, {"input": batch, "h": self._h, "c": self._c})
            self._context = window[-_CONTEXT:]
            probabilities.append(float(out[0]))
        return probabilities
