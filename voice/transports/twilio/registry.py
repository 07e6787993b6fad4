"""The record-and-answer calls in progress, and the threads their engine steps run on.

A webhook *checks out* its call (waiting while another step of the same call runs), feeds the engine,
and *checks it in* when the step is done, which may be after the webhook has answered "one moment": then
the finished step's TwiML waits in ``reply`` for the ``continue`` webhook. ``CallRegistry`` keeps calls in
this process (one node); ``voice.transports.twilio.shared_calls.SharedCallBook`` keeps them in Redis, so
that any node answers any webhook of a call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from voice.core.engine_types import Action, Event
from voice.runtime.driver import LocalDriver
from voice.runtime.runtime import LiveCall


class UnknownCall(Exception):
    """A webhook for a call no node knows (e.g. a single server restarted mid-call, or a forgotten call)."""


class CallBookUnavailable(Exception):
    """The shared call state cannot be read or written (Redis down) and this node holds no copy."""


@dataclass
class TwilioCall:
    driver: LocalDriver
    lock: threading.Lock = field(default_factory=threading.Lock)
    waited: bool = False  # "one moment" was played for the step in progress
    reply: str = ""  # TwiML of a step that finished after its webhook had answered
    live: LiveCall | None = None  # the runtime's count of this call (on the node that took it in)
    version: int = 0  # of the shared state this copy was read from (shared book only)
    token: Any = None  # the shared book's lock while checked out


class CallBook(Protocol):
    """Where the webhook transport keeps its calls."""

    executor: ThreadPoolExecutor
    downloads: ThreadPoolExecutor

    def after_download(self, download: Future[Event], step: Callable[[Event], list[Action]]) -> Future[list[Action]]:
        """``step`` on the engine threads once ``download`` is done, as one future (see ``Pools``)."""

    def start(self, sid: str, caller: str | None, make: Callable[[], TwilioCall | Any]) -> TwilioCall | Any | None:
        """The call ``sid`` checked out: the known one (a repeated webhook), else ``make()``'s new call.
        Whatever else ``make`` returns (a refusal) is passed through; None while a repeated webhook's
        first copy still runs."""

    def checkout(self, sid: str, caller: str | None, wait_s: float) -> TwilioCall | None:
        """The call, with its lock; None when another step of it still runs after ``wait_s``.

        Raises:
            UnknownCall: no such call.
        """

    def checkin(self, call: TwilioCall) -> None:
        """Keep the call's new state and release it."""

    def finish(self, sid: str, caller: str | None, wait_s: float) -> TwilioCall | None:
        """The ended call, checked out and forgotten (None if unknown); ``checkin`` is not called."""


class Pools:
    """Engine steps on their own threads; network waits (recording downloads) on others, so that a slow
    download never holds a slot that another caller's engine step needs."""

    def __init__(self, workers: int = 8, downloads: int = 32) -> None:
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="call")
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


class CallRegistry(Pools):
    """Calls in progress of this process, by CallSid (one node; see ``shared_calls`` for several)."""

    def __init__(self, workers: int = 8, downloads: int = 32) -> None:
        super().__init__(workers, downloads)
        self.calls: dict[str, TwilioCall] = {}
        self.lock = threading.Lock()

    def start(self, sid: str, caller: str | None, make: Callable[[], TwilioCall | Any],
              wait_s: float = 10.0) -> TwilioCall | Any | None:
        with self.lock:
            call = self.calls.get(sid)
            if call is None:
                made = make()
                if not isinstance(made, TwilioCall):
                    return made
                call = self.calls[sid] = made
        return call if call.lock.acquire(timeout=wait_s) else None

    def checkout(self, sid: str, caller: str | None, wait_s: float) -> TwilioCall | None:
        call = self.calls.get(sid)
        if call is None:
            raise UnknownCall(sid)
        return call if call.lock.acquire(timeout=wait_s) else None

    def checkin(self, call: TwilioCall) -> None:
        call.lock.release()

    def finish(self, sid: str, caller: str | None, wait_s: float) -> TwilioCall | None:
        call = self.calls.pop(sid, None)
        if call is None:
            return None
        call.lock.acquire(timeout=wait_s)  # a step still running past this is not waited for longer
        return call


def _copy_result(source: Future[list[Action]], target: Future[list[Action]]) -> None:
    error = source.exception()
    if error is not None:
        target.set_exception(error)
    else:
        target.set_result(source.result())
