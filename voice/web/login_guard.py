"""Limits on dashboard login attempts: atomic, per account and per client address, with bounded memory.

An attempt is reserved before the password is checked and counted as a failure until it succeeds, so
simultaneous guesses cannot all slip through before the first failure is noted. Three windows apply:
- one account from one address: ``per_pair`` failures (the usual lock-out; it locks the guesser, not
  the account's owner at another address);
- one address, whatever the names: ``per_address`` failures (a flood of random names);
- one account from all addresses: ``per_account`` failures (guessing spread over many addresses).
Each table keeps at most ``max_keys`` entries, dropping the oldest: random names cannot grow memory.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LoginLimits:
    window_s: float = 600.0
    per_pair: int = 5
    per_address: int = 20
    per_account: int = 50
    max_keys: int = 10000


@dataclass(frozen=True)
class Attempt:
    keys: tuple[str, str, str]
    at: float


class _Window:
    """Times of failures (and attempts in flight) per key, oldest keys dropped beyond ``max_keys``."""

    def __init__(self, limit: int, max_keys: int) -> None:
        self.limit, self.max_keys = limit, max_keys
        self.times: OrderedDict[str, list[float]] = OrderedDict()

    def full(self, key: str, since: float) -> bool:
        recent = [t for t in self.times.get(key, []) if t > since]
        if recent:
            self.times[key] = recent
        else:
            self.times.pop(key, None)
        return len(recent) >= self.limit

    def add(self, key: str, at: float) -> None:
        self.times.setdefault(key, []).append(at)
        self.times.move_to_end(key)
        while len(self.times) > self.max_keys:
            self.times.popitem(last=False)

    def remove(self, key: str, at: float) -> None:
        found = self.times.get(key)
        if found and at in found:
            found.remove(at)


class LoginGuard:
    def __init__(self, limits: LoginLimits | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or LoginLimits()
        self.clock = clock
        self._lock = threading.Lock()
        lim = self.limits
        self._windows = (
            _Window(lim.per_pair, lim.max_keys),
            _Window(lim.per_address, lim.max_keys),
            _Window(lim.per_account, lim.max_keys),
        )

    def begin(self, name: str, address: str) -> Attempt | None:
        """Reserve one attempt, counted as a failure until ``succeeded``; None when a limit is reached."""
        keys = (f"{name.casefold()}\n{address}", address, name.casefold())
        with self._lock:
            now = self.clock()
            since = now - self.limits.window_s
            if any(w.full(k, since) for w, k in zip(self._windows, keys, strict=True)):
                return None
            for window, key in zip(self._windows, keys, strict=True):
                window.add(key, now)
        return Attempt(keys, now)

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: this attempt is not a failure, and the pair starts afresh."""
        with self._lock:
            for window, key in zip(self._windows, attempt.keys, strict=True):
                window.remove(key, attempt.at)
            self._windows[0].times.pop(attempt.keys[0], None)

    def size(self) -> int:
        with self._lock:
            return sum(len(w.times) for w in self._windows)
