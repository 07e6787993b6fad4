"""Work started early, during the caller's pause, and used if the caller said nothing more.

Recognition of the utterance so far starts after a short silence; as soon as it has a transcript, the
answer is looked up too. When the endpointer then confirms the end of the utterance and the engine asks
for exactly that work, the results are already there (or on their way).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from voice.core.domain import AnswerLike, AudioClip, Transcript
from voice.core.ports import Answerer
from voice.runtime.recognition import ScheduledTranscriber
from voice.runtime.scheduler import Priority, Ticket


class SpeculativeTranscriber:
    """A ``Transcriber`` that reuses a transcription started by ``start`` for the very same clip.

    Early work goes to the process's scheduler as ``Priority.EARLY``: it starts only on idle capacity
    and is pushed aside by any caller's finished question (see ``voice.runtime.scheduler``)."""

    def __init__(self, inner: ScheduledTranscriber) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        self._pending: tuple[AudioClip, str | None, Ticket[Transcript]] | None = None
        self.reused = 0

    def warm_up(self) -> None:
        self.inner.warm_up()

    def start(
        self, audio: AudioClip, language: str | None, then: Callable[[Transcript], None] = lambda _t: None
    ) -> None:
        """Transcribe ``audio`` on idle capacity, then hand the transcript to ``then`` (skipped when the
        scheduler refuses or drops the early work)."""
        ticket = self.inner.submit(audio, language, Priority.EARLY, then)
        with self._lock:
            self._pending = None if ticket.future.cancelled() else (audio, language, ticket)

    def discard(self) -> None:
        with self._lock:
            self._pending = None

    def transcribe(self, audio: AudioClip, language: str | None = None) -> Transcript:
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None and pending[0] is audio and pending[1] == language:
            self.reused += 1
            self.inner.scheduler.note_reused()
            return pending[2].future.result()
        return self.inner.transcribe(audio, language)


class SpeculativeAnswerer:
    """An ``Answerer`` that keeps the answer looked up early for one (text, language)."""

    def __init__(self, inner: Answerer) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        self._early: tuple[str, str | None, AnswerLike] | None = None
        self.reused = 0

    def warm_up(self) -> None:
        self.inner.warm_up()

    def prefetch(self, text: str, language: str | None) -> None:
        answer = self.inner.answer(text, language)
        with self._lock:
            self._early = (text, language, answer)

    def answer(self, text: str, language: str | None = None) -> AnswerLike:
        with self._lock:
            early, self._early = self._early, None
        if early is not None and early[0] == text and early[1] == language:
            self.reused += 1
            return early[2]
        return self.inner.answer(text, language)

    def answer_topic(self, topic: str, language: str) -> AnswerLike:
        return self.inner.answer_topic(topic, language)
