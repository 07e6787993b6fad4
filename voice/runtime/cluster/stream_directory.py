"""Media Streams calls handed between nodes: the webhook node admits the call and opens its record, the
node picked for the stream takes it up when the stream starts; how the stream ended is left for the
``stream-ended`` webhook, which may come to any node. Entries are read once and expire."""

from __future__ import annotations

import json
from typing import Any

import redis


class StreamDirectory:
    def __init__(self, client: redis.Redis, prefix: str = "hotline:", ttl_s: int = 120) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s

    def hand(self, sid: str, store_call_id: str, office_open: bool, node_url: str = "") -> None:
        data = {"store_call_id": store_call_id, "office_open": office_open, "node_url": node_url}
        self.client.set(f"{self.prefix}stream-handoff:{sid}", json.dumps(data), ex=self.ttl_s)

    def handed(self, sid: str) -> dict[str, Any] | None:
        """A hand-over not taken up yet, left in place (a repeated voice webhook of the same call)."""
        raw = self.client.get(f"{self.prefix}stream-handoff:{sid}")
        return json.loads(raw) if raw else None

    def take(self, sid: str) -> dict[str, Any] | None:
        raw = self.client.getdel(f"{self.prefix}stream-handoff:{sid}")
        return json.loads(raw) if raw else None

    def ended(self, sid: str, outcome: str, language: str, topic: str | None) -> None:
        data = {"outcome": outcome, "language": language, "topic": topic}
        self.client.set(f"{self.prefix}stream-outcome:{sid}", json.dumps(data), ex=10 * self.ttl_s)

    def outcome(self, sid: str) -> dict[str, Any] | None:
        raw = self.client.getdel(f"{self.prefix}stream-outcome:{sid}")
        return json.loads(raw) if raw else None
