"""One scheduler per process for the slow stage every call shares: speech recognition.

Rules (each has a unit test on a fake clock):

- a finished question (``Priority.QUESTION``) outranks early recognition (``Priority.EARLY``, started
  during the caller's pause on the chance that the utterance is complete);
- early recognition starts only on idle capacity: a free slot and no question waiting, so it never
  waits in the queue; when a finished question then finds every slot taken, the early work running is
  marked dropped (decoding cannot be interrupted, but its follow-up work is skipped);
- finished questions are served oldest endpoint first (the caller who stopped talking first);
- at most ``slots`` recognitions run at once, however many threads ask.

The scheduler also measures how long a recognition takes (a moving average), so the runtime can tell
how long a new question would wait: admission control refuses calls on that estimate.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

Spawn = Callable[[Callable[[], None]], None]


class Priority(IntEnum):
    QUESTION = 0  # the caller finished speaking and waits
    EARLY = 1  # a guess during a pause, only worth idle capacity


@dataclass
class Ticket(Generic[T]):
    """A submitted job: its future, and whether a question has pushed it aside."""

    priority: Priority
    endpoint_at: float
    future: Future[T] = field(default_factory=Future)
    dropped: bool = False
    started_at: float | None = None


def _spawn_thread(fn: Callable[[], None]) -> None:
    threading.Thread(target=fn, name="recognise", daemon=True).start()


class Scheduler:
    """Priority scheduling of recognition jobs over a fixed number of slots.

    ``spawn`` runs a dispatched job (a new thread by default; tests collect the jobs and run them by
    hand); ``clock`` gives seconds (``time.perf_counter`` by default, the clock of endpoint times).
    """

    def __init__(
        self,
        slots: int = 1,
        clock: Callable[[], float] = time.perf_counter,
        spawn: Spawn = _spawn_thread,
        initial_stage_s: float = 1.0,
    ) -> None:
        if slots < 1:
            raise ValueError("a scheduler needs at least one slot")
        self.slots = slots
        self.clock = clock
        self.spawn = spawn
        self._lock = threading.Lock()
        self._waiting: list[tuple[float, int, Ticket[Any], Callable[[], Any], Callable[[Any], None] | None]] = []
        self._running: list[Ticket[Any]] = []
        self._seq = itertools.count()
        self.stage_s = initial_stage_s  # moving average of one recognition, seconds
        self.completed = 0
        self.busy_s = 0.0  # recognition time summed over all jobs (the recogniser's utilisation)
        self.early_refused = 0
        self.early_dropped = 0
        self.questions = 0  # finished questions recognised (their own job, or a reused early one)

    def submit(
        self,
        work: Callable[[], T],
        priority: Priority = Priority.QUESTION,
        endpoint_at: float | None = None,
        then: Callable[[T], None] | None = None,
    ) -> Ticket[T]:
        """Queue ``work``; its result arrives on the ticket's future. Early work that cannot start at
        once is refused: its future is cancelled before it is returned.

        ``then`` runs on the result after the slot is free and before the future resolves (unless the
        job was dropped meanwhile), so whoever waits on the future finds its follow-up work done."""
        ticket: Ticket[T] = Ticket(priority, self.clock() if endpoint_at is None else endpoint_at)
        with self._lock:
            if priority is Priority.EARLY and (self._waiting or len(self._running) >= self.slots):
                self.early_refused += 1
                ticket.future.cancel()
                return ticket
            if priority is Priority.QUESTION:
                self.questions += 1
                self._drop_early_locked()
            heapq.heappush(self._waiting, (ticket.endpoint_at, next(self._seq), ticket, work, then))
            ready = self._dispatch_locked()
        for job in ready:
            self.spawn(job)
        return ticket

    def _drop_early_locked(self) -> None:
        """Early work never waits in the queue (it starts at once or is refused), so only running early
        work can stand in a question's way."""
        if len(self._running) < self.slots:
            return  # a slot is free: the question starts now, nothing is pushed aside
        for ticket in self._running:
            if ticket.priority is Priority.EARLY and not ticket.dropped:
                ticket.dropped = True
                self.early_dropped += 1

    def _dispatch_locked(self) -> list[Callable[[], None]]:
        ready = []
        while self._waiting and len(self._running) < self.slots:
            _, _, ticket, work, then = heapq.heappop(self._waiting)
            if not ticket.future.set_running_or_notify_cancel():
                continue
            ticket.started_at = self.clock()
            self._running.append(ticket)
            ready.append(self._runner(ticket, work, then))
        return ready

    def _runner(
        self, ticket: Ticket[Any], work: Callable[[], Any], then: Callable[[Any], None] | None
    ) -> Callable[[], None]:
        def run() -> None:
            result: Any = None
            error: BaseException | None = None
            try:
                result = work()
            except BaseException as exc:  # handed to whoever waits on the future
                error = exc
            self._finished(ticket)
            if error is None and then is not None and not ticket.dropped:
                try:
                    then(result)
                except Exception:
                    log.exception("follow-up of a recognition failed (its result stands)")
            if error is not None:
                ticket.future.set_exception(error)
            else:
                ticket.future.set_result(result)

        return run

    def _finished(self, ticket: Ticket[Any]) -> None:
        with self._lock:
            self._running.remove(ticket)
            if ticket.started_at is not None:
                took = self.clock() - ticket.started_at
                self.busy_s += took
                self.stage_s = took if self.completed == 0 else 0.8 * self.stage_s + 0.2 * took
                self.completed += 1
            ready = self._dispatch_locked()
        for job in ready:
            self.spawn(job)

    def note_reused(self) -> None:
        """A finished question was served by its early recognition: it counts as a question all the same."""
        with self._lock:
            self.questions += 1

    def load(self) -> tuple[int, int]:
        """(questions waiting, jobs running)."""
        with self._lock:
            waiting = sum(1 for e in self._waiting if e[2].priority is Priority.QUESTION)
            return waiting, len(self._running)

    def expected_wait_s(self) -> float:
        """How long a question finished now would wait before its recognition starts: the jobs ahead
        of it (waiting questions and running jobs) times the measured recognition time, over the slots."""
        waiting, running = self.load()
        return (waiting + running) * self.stage_s / self.slots
