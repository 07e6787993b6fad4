"""One small Protocol per stage. A new engine implements one of these and nothing else."""

from __future__ import annotations

from typing import Protocol

from voice.core.domain import AnswerLike, AudioClip, Speech, TextSent, Transcript


class Transcriber(Protocol):
    """Speech recognition: one finished utterance in, one transcript out. Never raises on bad audio."""

    def warm_up(self) -> None: ...

    def transcribe(self, audio: AudioClip, language: str | None = None) -> Transcript:
        """Transcribe ``audio``; ``language`` forces a hotline language, None detects it."""
        ...


class Answerer(Protocol):
    """Retrieval over the curated FAQ: a question in, an answer or a hand-over decision out."""

    def warm_up(self) -> None: ...

    def answer(self, text: str, language: str | None = None) -> AnswerLike:
        """Answer ``text``; ``language`` None means: infer it from the text."""
        ...

    def answer_topic(self, topic: str, language: str) -> AnswerLike:
        """The curated answer of ``topic`` (chosen on the keypad) in ``language``."""
        ...


class Synthesizer(Protocol):
    """Text to speech for one language; the text must already be in that language."""

    name: str

    def warm_up(self) -> None: ...

    def has_voice(self, language: str) -> bool: ...

    def identity(self, language: str) -> dict[str, object]:
        """What decides how ``language`` sounds: engine, model, engine version, voice settings.

        Part of the audio cache key, so a changed voice or engine never plays stale audio.
        """
        ...

    def synthesize(self, text: str, language: str) -> Speech:
        """Speak ``text``.

        Raises:
            NoVoiceError: When the engine has no voice for ``language``.
        """
        ...


class Texter(Protocol):
    """The written answer by SMS: whether a number can get one, and sending it. Never raises."""

    def can_text(self, number: str | None) -> bool:
        """The option may be offered to this caller (a mobile number of an allowed country)."""
        ...

    def send_answer(self, number: str, topic: str, language: str) -> TextSent: ...


class NoVoiceError(LookupError):
    """The synthesizer has no voice for the requested language."""
