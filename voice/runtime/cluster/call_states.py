"""Engine state of webhook calls in Redis: one hash per call, a lock per call, a version checked on write.

The webhooks of one call are handled one at a time: a node takes the call's lock (redis-py's ``Lock``,
a token-checked key with a timeout), loads the state, runs the engine step and writes the state back only
if the version is still the one it read (a Lua script: compare and write in one step). The version check
catches the one case the lock cannot: a node that stalled past the lock's timeout while another took over;
its write is then refused instead of overwriting newer state.

Keys (``hotline:`` prefix): ``call:<sid>`` holds ``v`` (version), ``data`` (the JSON of
``voice.runtime.cluster.snapshot``) and ``reply`` (the answer to a step that outlived its webhook, for the
``continue`` webhook to pick up on any node); ``call-lock:<sid>`` is the lock. Both expire.
"""

from __future__ import annotations

import json
from typing import Any

import redis
from redis.lock import Lock

_SAVE = """
local current = redis.call('HGET', KEYS[1], 'v') or '0'
if current ~= ARGV[1] then return -1 end
local version = tonumber(current) + 1
redis.call('HSET', KEYS[1], 'v', version, 'data', ARGV[2], 'reply', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return version
"""


class StaleState(Exception):
    """The call's state changed since it was read (another node wrote it): this write is refused."""


class SharedCallStates:
    """Versioned call state by CallSid. ``ttl_s`` bounds how long a call's state outlives its last webhook."""

    def __init__(self, client: redis.Redis, ttl_s: int = 4 * 3600, lock_s: float = 120.0,
                 prefix: str = "hotline:") -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.lock_s = lock_s
        self.prefix = prefix
        self._save = client.register_script(_SAVE)

    def _key(self, sid: str) -> str:
        return f"{self.prefix}call:{sid}"

    def lock(self, sid: str) -> Lock:
        """The call's lock; released from whichever thread finishes the step (not thread-local)."""
        return self.client.lock(f"{self.prefix}call-lock:{sid}", timeout=self.lock_s, thread_local=False)

    def load(self, sid: str) -> tuple[int, dict[str, Any] | None, str]:
        """(version, state data or None when the call is unknown, pending reply or "")."""
        raw = self.client.hgetall(self._key(sid))
        if not raw:
            return 0, None, ""
        version = int(raw.get(b"v", b"0"))
        data = json.loads(raw[b"data"]) if raw.get(b"data") else None
        reply = raw.get(b"reply", b"")
        return version, data, reply.decode() if isinstance(reply, bytes) else str(reply)

    def save(self, sid: str, version: int, data: dict[str, Any], reply: str = "") -> int:
        """Write the state read at ``version``; returns the new version.

        Raises:
            StaleState: someone wrote the call since (nothing is written).
        """
        payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        written = int(self._save(keys=[self._key(sid)], args=[str(version), payload, reply, self.ttl_s]))
        if written < 0:
            raise StaleState(f"call {sid}: state changed since version {version}")
        return written

    def current_version(self, sid: str) -> int:
        """The version now in Redis (0: none), for a write that must win (a call served from a node's copy
        while Redis was away)."""
        return int(self.client.hget(self._key(sid), "v") or 0)

    def exists(self, sid: str) -> bool:
        return bool(self.client.exists(self._key(sid)))

    def delete(self, sid: str) -> None:
        self.client.delete(self._key(sid))
