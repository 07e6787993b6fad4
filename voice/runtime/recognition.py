"""The ``Transcriber`` every call uses: the real recogniser behind the process's scheduler."""

from __future__ import annotations

from collections.abc import Callable

from voice.core.domain import AudioClip, Transcript
from voice.core.ports import Transcriber
from voice.runtime.scheduler import Priority, Scheduler, Ticket


class ScheduledTranscriber:
    """Recognition through the scheduler: a question waits its turn (oldest endpoint first) instead
    of running beside every other caller's; ``submit`` also takes early (speculative) work."""

    def __init__(self, inner: Transcriber, scheduler: Scheduler) -> None:
        self.inner = inner
        self.scheduler = scheduler

    @property
    def name(self) -> str:
        return str(getattr(self.inner, "name", type(self.inner).__name__))

    def warm_up(self) -> None:
        self.inner.warm_up()

    def submit(
        self,
        audio: AudioClip,
        language: str | None,
        priority: Priority,
        then: Callable[[Transcript], None] | None = None,
    ) -> Ticket[Transcript]:
        if getattr(self.inner, "prioritised", False):  # a queue to workers: the job's priority goes along
            def work() -> Transcript:
                return self.inner.transcribe(audio, language, priority)  # type: ignore[call-arg]
        else:
            def work() -> Transcript:
                return self.inner.transcribe(audio, language)
        return self.scheduler.submit(work, priority, endpoint_at=audio.ended_at, then=then)

    def transcribe(self, audio: AudioClip, language: str | None = None) -> Transcript:
        return self.submit(audio, language, Priority.QUESTION).future.result()


def scheduled(transcriber: Transcriber, scheduler: Scheduler) -> ScheduledTranscriber:
    """``transcriber`` behind ``scheduler`` (itself when it already is)."""
    if isinstance(transcriber, ScheduledTranscriber):
        return transcriber
    return ScheduledTranscriber(transcriber, scheduler)
