"""The process's call runtime: the live calls of every transport, the scheduler, admission control.

Every transport asks ``admit`` before it takes a call in and holds the returned ``LiveCall`` until the
call ends, so one count covers Twilio webhooks, Media Streams and SIP alike. A call is refused when

- the process already holds ``max_calls`` calls (reason ``max_calls``);
- a question finished now would wait longer than ``wait_budget_s`` for the recogniser: the scheduler's
  queue times its measured recognition time (reason ``wait``);
- with one more call, the questions that the calls in progress will ask would wait longer than
  ``wait_budget_s`` at the 95th percentile: the measured question rate per call, the measured
  recognition time and the slots in the Erlang C model (``voice.runtime.load``; reason ``load``).
  The queue of the moment cannot see these questions yet: they come after the call was taken in.

Calls in progress are never dropped: admission happens only at the start of a call. A draining node
(SIGTERM, ``voice.runtime.drain``) refuses every new call bound to it (reason ``draining``) and
finishes the rest; webhook calls kept in Redis are still taken in (any node answers their webhooks).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from voice.runtime.load import QuestionRate, wait_quantile_s
from voice.runtime.metrics import Metrics
from voice.runtime.scheduler import Scheduler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdmissionPolicy:
    wait_budget_s: float = 2.0  # a new caller's question must not expect to wait longer
    max_calls: int = 40  # calls in progress in this process, all transports together
    questions_per_min: float = 2.0  # the prior of a call's question rate, until calls are measured

    def __post_init__(self) -> None:
        if self.wait_budget_s <= 0 or self.max_calls < 1:
            raise ValueError("admission needs a positive wait budget and at least one call")


@dataclass(frozen=True)
class Admission:
    admitted: bool
    reason: str  # "ok", "max_calls", "wait", "load" or "draining"
    expected_wait_s: float  # for a question finished now
    live_calls: int
    predicted_wait_s: float = 0.0  # p95 wait of questions with this call taken in (inf: over capacity)


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

    def __init__(self, scheduler: Scheduler | None = None, policy: AdmissionPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.scheduler = scheduler or Scheduler()
        self.policy = policy or AdmissionPolicy()
        self.clock = clock
        self._lock = threading.Lock()
        self._live: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()  # by reason, since start (the store keeps them by day)
        self.rate = QuestionRate(prior_per_min=self.policy.questions_per_min)
        self.draining = False  # set once on SIGTERM: no new calls bound to this node
        self.moving: frozenset[str] = frozenset()  # transports whose calls any node serves (not refused then)
        self.metrics = Metrics()
        self.metrics.watch(self)

    def live_by_transport(self) -> dict[str, int]:
        with self._lock:
            return dict(self._live)

    def live_calls(self) -> int:
        with self._lock:
            return sum(self._live.values())

    def predicted_wait_s(self, calls: int) -> float:
        """The 95th percentile of a question's wait for the recogniser with ``calls`` calls in progress."""
        rate = calls * self.rate.per_call_s
        return wait_quantile_s(rate, max(self.scheduler.stage_s, 1e-3), self.scheduler.slots)

    def admit(self, transport: str) -> tuple[Admission, LiveCall | None]:
        """Take a call in, or say why not. An admitted call counts as live until it is released."""
        wait = self.scheduler.expected_wait_s()
        with self._lock:
            live = self._observe_locked()
            predicted = self.predicted_wait_s(live + 1)
            if self.draining and transport not in self.moving:
                reason = "draining"
            elif live >= self.policy.max_calls:
                reason = "max_calls"
            elif wait > self.policy.wait_budget_s:
                reason = "wait"
            elif predicted > self.policy.wait_budget_s:
                reason = "load"
            else:
                self._live[transport] += 1
                return Admission(True, "ok", wait, live + 1, predicted), LiveCall(transport, self._release)
            self.refused[reason] += 1
        log.warning("%s call refused: %s (expected wait %.1fs, predicted p95 %.1fs, %d calls in progress)",
                    transport, reason, wait, predicted, live)
        return Admission(False, reason, wait, live, predicted), None

    def count(self, transport: str) -> LiveCall:
        """Count a call that another node of the cluster admitted and handed to this one (its Media Stream
        connects here): it is taken in whatever the load, as every admitted call is."""
        with self._lock:
            self._observe_locked()
            self._live[transport] += 1
        return LiveCall(transport, self._release)

    def _observe_locked(self) -> int:
        live = sum(self._live.values())
        self.rate.observe(self.clock(), live, self.scheduler.questions)
        return live

    def _release(self, call: LiveCall) -> None:
        with self._lock:  # two paths may report the end of one call at once (a webhook and a hang-up)
            if not call.released:
                self._observe_locked()
                call.released = True
                self._live[call.transport] -= 1
