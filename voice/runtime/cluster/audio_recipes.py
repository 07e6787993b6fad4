"""The text behind each audio-cache key, in Redis: a node asked for audio it never rendered speaks it.

Only prompt and answer texts are kept (the office's own content, nothing a caller said). Each key is
written once per half of its lifetime from each node (a local note of what was written saves the
round trip on the many renders of the same prompt).
"""

from __future__ import annotations

import json
import logging
import threading
import time

import redis

log = logging.getLogger(__name__)


class RedisRecipes:
    def __init__(self, client: redis.Redis, ttl_s: int, prefix: str = "hotline:") -> None:
        self.client = client
        self.ttl_s = max(60, ttl_s)
        self.prefix = prefix
        self._written: dict[str, float] = {}
        self._lock = threading.Lock()

    def remember(self, key: str, text: str, language: str, fmt: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._written.get(key, -1e9) < self.ttl_s / 2:
                return
            if len(self._written) > 50_000:
                self._written.clear()
            self._written[key] = now
        try:
            self.client.set(f"{self.prefix}audio:{key}", json.dumps([text, language, fmt]), ex=self.ttl_s)
        except redis.RedisError as exc:  # this node still serves its own URLs
            log.warning("audio recipe not shared (%s)", exc)
            with self._lock:
                self._written.pop(key, None)

    def recall(self, key: str) -> tuple[str, str, str] | None:
        try:
            raw = self.client.get(f"{self.prefix}audio:{key}")
        except redis.RedisError as exc:
            log.warning("audio recipe not readable (%s)", exc)
            return None
        if not raw:
            return None
        text, language, fmt = json.loads(raw)
        return str(text), str(language), str(fmt)
