"""Stopping a node without dropping a call: SIGTERM drains, then the process exits.

Draining refuses every new call on this node (the runtime's reason ``draining``), makes ``/healthz``
answer 503 so that a load balancer sends nothing new, takes the node out of the cluster's registry, and
waits until the calls that live here (SIP and Media Streams: their audio is bound to this process) have
ended, or until ``grace_s`` has passed. Webhook calls kept in Redis are not waited for: their next webhook
is answered by another node.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from voice.runtime.runtime import Runtime

log = logging.getLogger(__name__)


class Drain:
    def __init__(self, runtime: Runtime, grace_s: float, moving: Iterable[str] = (),
                 on_start: Iterable[Callable[[], None]] = (), poll_s: float = 0.5) -> None:
        self.runtime = runtime
        self.grace_s = grace_s
        self.moving = frozenset(moving)  # transports whose calls continue on other nodes
        self.on_start = list(on_start)
        self.poll_s = poll_s
        self.started: float | None = None
        self._lock = threading.Lock()

    def staying(self) -> int:
        """Calls in progress that must end here."""
        return sum(n for t, n in self.runtime.live_by_transport().items() if t not in self.moving)

    def run(self, clock: Callable[[], float] = time.monotonic) -> bool:
        """Drain (idempotent); True when every call ended within the grace period."""
        with self._lock:
            if self.started is not None:
                return False
            self.started = clock()
            self.runtime.moving = self.moving
            self.runtime.draining = True
        for step in self.on_start:
            try:
                step()
            except Exception:
                log.exception("a step of draining failed; draining goes on")
        deadline = self.started + self.grace_s
        log.warning("draining: no new calls; waiting up to %.0f s for %d calls in progress", self.grace_s,
                    self.staying())
        next_note = clock() + 10.0
        while (left := self.staying()) > 0:
            if clock() >= deadline:
                log.error("drained after %.0f s with %d calls still in progress: they end now", self.grace_s, left)
                return False
            if clock() >= next_note:
                log.warning("draining: %d calls still in progress", left)
                next_note = clock() + 10.0
            time.sleep(self.poll_s)
        log.warning("drained: every call ended after %.1f s", clock() - self.started)
        return True
