"""The record-and-answer calls in progress of one process, and the threads their engine steps run on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from voice.core.engine_types import Action, Event
from voice.runtime.driver import LocalDriver
from voice.runtime.runtime import LiveCall


@dataclass
class TwilioCall:
    driver: LocalDriver
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: Future[list[Action]] | None = None
    waited: bool = False
    live: LiveCall | None = None  # the runtime's count of this call


class CallRegistry:
    """Calls in progress, by CallSid (process-local; run one server process per line, see README)."""

    def __init__(self, workers: int = 8, downloads: int = 32) -> None:
        self.calls: dict[str, TwilioCall] = {}
        self.lock = threading.Lock()
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="call")  # engine steps
        # network waits (recording downloads) have their own threads: a slow download never holds a slot
        # that another caller's engine step needs
        self.downloads = ThreadPoolExecutor(max_workers=downloads, thread_name_prefix="download")

    def after_download(self, download: Future[Event], step: Callable[[Event], list[Action]]) -> Future[list[Action]]:
        """``step`` on the engine threads once ``download`` is done, as one future."""
        out: Future[list[Action]] = Future()

        def engine(done: Future[Event]) -> None:
            try:
                inner = self.executor.submit(step, done.result())
            except BaseException as exc:  # noqa: BLE001  # handed to whoever waits on ``out``
                out.set_exception(exc)
                return
            inner.add_done_callback(lambda f: _copy_result(f, out))

        download.add_done_callback(engine)
        return out


def _copy_result(source: Future[list[Action]], target: Future[list[Action]]) -> None:
    error = source.exception()
    if error is not None:
        target.set_exception(error)
    else:
        target.set_result(source.result())
