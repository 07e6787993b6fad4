"""Work started early, during the caller's pause, and used if the caller said nothing more.

Recognition of the utterance so far starts after a short silence; as soon as it has a transcript, the
answer is looked up too. When the endpointer then confirms the end of the utterance and the engine asks
for exactly that work, the results are already there (or on their way).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future

from voice.domain import AnswerLike, AudioClip, Transcript
from voice.ports import Answerer, Transcriber

log = logging.getLogger(__name__)


class Recognitions:
    """How many recognitions run in this process. Early recognition only starts when none does: on a
    busy server a guess that may be thrown away must not queue in front of other callers' questions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running = 0

    def idle(self) -> bool:
        with self._lock:
            return self.running == 0

    def run(self, transcriber: Transcriber, audio: AudioClip, language: str | None) -> Transcript:
        with self._lock:
            self.running += 1
        try:
            return transcriber.transcribe(audio, language)
        finally:
            with self._lock:
                self.running -= 1


RECOGNITIONS = Recognitions()


class SpeculativeTranscriber:
    """A ``Transcriber`` that reuses a transcription started by ``start`` for the very same clip."""

    def __init__(self, inner: Transcriber, executor: Executor, load: Recognitions = RECOGNITIONS) -> None:
        self.inner = inner
        self.executor = executor
        self.load = load
        self._lock = threading.Lock()
        self._pending: tuple[AudioClip, str | None, Future[Transcript]] | None = None
        self.reused = 0

    def warm_up(self) -> None:
        self.inner.warm_up()

    def start(
        self, audio: AudioClip, language: str | None, then: Callable[[Transcript], None] = lambda _t: None
    ) -> None:
        """Transcribe ``audio`` in the background, then hand the transcript to ``then`` (skipped while
        other recognitions run)."""
        if not self.load.idle():
            self.discard()
            return

        def work() -> Transcript:
            transcript = self.load.run(self.inner, audio, language)
            try:
                then(transcript)
            except Exception:
                log.exception("early answer lookup failed (the engine will ask again)")
            return transcript

        with self._lock:
            self._pending = (audio, language, self.executor.submit(work))

    def discard(self) -> None:
        with self._lock:
            self._pending = None

    def transcribe(self, audio: AudioClip, language: str | None = None) -> Transcript:
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None and pending[0] is audio and pending[1] == language:
            self.reused += 1
            return pending[2].result()
        return self.load.run(self.inner, audio, language)


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
