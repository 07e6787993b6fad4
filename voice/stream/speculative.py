"""Recognition started early, during the caller's pause, and used if the caller said nothing more."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Executor, Future

from voice.domain import AudioClip, Transcript
from voice.ports import Transcriber

log = logging.getLogger(__name__)


class SpeculativeTranscriber:
    """A ``Transcriber`` that reuses a transcription started by ``start`` for the very same clip."""

    def __init__(self, inner: Transcriber, executor: Executor) -> None:
        self.inner = inner
        self.executor = executor
        self._lock = threading.Lock()
        self._pending: tuple[AudioClip, str | None, Future[Transcript]] | None = None
        self.reused = 0

    def warm_up(self) -> None:
        self.inner.warm_up()

    def start(self, audio: AudioClip, language: str | None) -> None:
        with self._lock:
            self._pending = (audio, language, self.executor.submit(self.inner.transcribe, audio, language))

    def discard(self) -> None:
        with self._lock:
            self._pending = None

    def transcribe(self, audio: AudioClip, language: str | None = None) -> Transcript:
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None and pending[0] is audio and pending[1] == language:
            self.reused += 1
            return pending[2].result()
        return self.inner.transcribe(audio, language)
