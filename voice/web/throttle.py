"""Warnings about refused traffic, at most one per key and interval: a flood must not flood the log."""

from __future__ import annotations

import threading
import time
from collections import Counter


class WarnThrottle:
    """Counts events per key (a client address) and says when to warn, with how many since the last warning.

    Memory is bounded: past ``max_keys`` keys the counts start afresh.
    """

    def __init__(self, every_s: float = 10.0, max_keys: int = 10000) -> None:
        self.every_s, self.max_keys = every_s, max_keys
        self.counts: Counter[str] = Counter()
        self.warned_at: dict[str, float] = {}
        self.lock = threading.Lock()

    def count(self, key: str) -> int:
        """Note one event; returns how many to report now (0: stay quiet)."""
        now = time.monotonic()
        with self.lock:
            if len(self.counts) > self.max_keys or len(self.warned_at) > self.max_keys:
                self.counts.clear()
                self.warned_at.clear()
            self.counts[key] += 1
            if now - self.warned_at.get(key, now - self.every_s) < self.every_s:
                return 0
            self.warned_at[key] = now
            return self.counts.pop(key)
