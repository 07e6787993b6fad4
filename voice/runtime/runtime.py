"""The process's call runtime: the live calls of every transport, the scheduler, admission control.

Every transport asks ``admit`` before it takes a call in and holds the returned ``LiveCall`` until the
call ends, so one count covers Twilio webhooks, Media Streams and SIP alike. A call is refused when the
process already holds ``max_calls`` calls, or when a question finished now would wait longer than
``wait_budget_s`` for the recogniser (the scheduler's queue times its measured recognition time).
Calls in progress are never dropped: admission happens only at the start of a call.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from voice.runtime.scheduler import Scheduler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdmissionPolicy:
    wait_budget_s: float = 2.0  # a new caller's question must not expect to wait longer
    max_calls: int = 40  # calls in progress in this process, all transports together

    def __post_init__(self) -> None:
        if self.wait_budget_s <= 0 or self.max_calls < 1:
            raise ValueError("admission needs a positive wait budget and at least one call")


@dataclass(frozen=True)
class Admission:
    admitted: bool
    reason: str  # "ok", "max_calls" or "wait"
    expected_wait_s: float
    live_calls: int


@dataclass
class LiveCall:
    """A call taken in; ``release`` (idempotent) when it ends, however it ends."""

    transport: str
    _on_release: Callable[[LiveCall], None] = field(repr=False)
    released: bool = False

    def release(self) -> None:
        self._on_release(self)


class Runtime:
    """What all calls of one process share. ``scheduler`` serves every recognition."""

    def __init__(self, scheduler: Scheduler | None = None, policy: AdmissionPolicy | None = None) -> None:
        self.scheduler = scheduler or Scheduler()
        self.policy = policy or AdmissionPolicy()
        self._lock = threading.Lock()
        self._live: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()  # by reason, since start (the store keeps them by day)

    def live_calls(self) -> int:
        with self._lock:
            return sum(self._live.values())

    def admit(self, transport: str) -> tuple[Admission, LiveCall | None]:
        """Take a call in, or say why not. An admitted call counts as live until it is released."""
        wait = self.scheduler.expected_wait_s()
        with self._lock:
            live = sum(self._live.values())
            if live >= self.policy.max_calls:
                reason = "max_calls"
            elif wait > self.policy.wait_budget_s:
                reason = "wait"
            else:
                self._live[transport] += 1
                return Admission(True, "ok", wait, live + 1), LiveCall(transport, self._release)
            self.refused[reason] += 1
        log.warning("%s call refused: %s (expected wait %.1fs, %d calls in progress)", transport, reason, wait, live)
        return Admission(False, reason, wait, live), None

    def _release(self, call: LiveCall) -> None:
        with self._lock:  # two paths may report the end of one call at once (a webhook and a hang-up)
            if not call.released:
                call.released = True
                self._live[call.transport] -= 1
