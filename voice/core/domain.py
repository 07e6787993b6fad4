"""Small value types passed between the call engine and the stage engines."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AudioClip:
    """Mono audio as float32 samples in [-1, 1]."""

    samples: FloatArray
    sample_rate: int
    ended_at: float | None = None  # time.perf_counter() when the caller stopped (the scheduler's order)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate) if self.sample_rate else 0.0


class SpeechStatus(StrEnum):
    """Outcome of speech recognition on one utterance."""

    OK = "ok"
    NO_SPEECH = "no_speech"  # silence, noise only, or too short to hold a question
    UNREADABLE = "unreadable_audio"  # the file or stream could not be decoded


@dataclass(frozen=True)
class Transcript:
    """What the caller said.

    Attributes:
        text: The words, empty unless ``status`` is OK.
        language: Hotline language code, or None when nothing was recognised.
        language_probability: Confidence of ``language`` among the supported languages (0..1).
        duration_s: Length of the audio given.
        status: OK, NO_SPEECH or UNREADABLE.
        detail: Human-readable reason for a non-OK status.
        asr_ms: Wall time spent in recognition.
        speech_s: Voiced time in the audio.
        avg_logprob: Mean log-probability of the recognised tokens (Whisper's own confidence); None
            for text that was not recognised from audio.
        no_speech_prob: Whisper's probability that the audio held no speech at all.
        compression_ratio: Text length over its zlib-compressed length; high means a repetition loop.
    """

    text: str
    language: str | None
    language_probability: float
    duration_s: float
    status: SpeechStatus = SpeechStatus.OK
    detail: str = ""
    asr_ms: float = 0.0
    speech_s: float = 0.0
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None

    @property
    def no_speech(self) -> bool:
        return self.status is not SpeechStatus.OK


class AnswerLike(Protocol):
    """What the call flow needs from a retrieval result (``pipeline`` returns a matching dataclass)."""

    @property
    def topic(self) -> str | None: ...
    @property
    def handover(self) -> bool: ...
    @property
    def language(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def legal_basis(self) -> list[str]: ...
    @property
    def as_of(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def margin(self) -> float: ...
    @property
    def reason(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def offered(self) -> list[str]: ...
    @property
    def candidates(self) -> list[tuple[str, float]]: ...
    @property
    def short(self) -> str: ...  # the short spoken answer; empty where there is none (text is spoken)


@dataclass(frozen=True)
class Speech:
    """Synthesised speech and how it was made.

    Attributes:
        audio: The samples.
        language: Language of the text and of the voice (always the same).
        voice: Engine-specific voice id.
        engine: Engine name, part of the cache key.
    """

    audio: AudioClip
    language: str
    voice: str
    engine: str
    meta: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TextSent:
    """What became of a text message: ``sent``, ``refused`` or ``failed``; the number is never kept."""

    status: str
    segments: int = 0
    message_id: str = ""  # the messaging service's id, to match its delivery reports
