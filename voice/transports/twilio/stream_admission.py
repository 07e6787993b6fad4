"""How many Media Streams sockets each client address holds that have not shown a valid start yet.

Each application's stream endpoint keeps its own count (it admits a socket and releases it once it has
started or closed) and announces it here; the web worker's event loop reads the announced count and
answers a further upgrade request from an address that is already at the limit with 429 itself: no
thread, no Flask, no WebSocket handshake for a flood of sockets that would only be closed again.
"""

from __future__ import annotations

import threading
from collections import Counter

MAX_UNSTARTED_PER_ADDRESS = 8  # sockets from one address that have not yet shown a valid token
STREAM_PATH = b"/twilio/stream"


class UnstartedStreams:
    def __init__(self, limit: int = MAX_UNSTARTED_PER_ADDRESS) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._count: Counter[str] = Counter()

    def admit(self, address: str) -> bool:
        """Count a new socket from ``address`` until it starts; False when that address has too many."""
        with self._lock:
            if self._count[address] >= self.limit:
                return False
            self._count[address] += 1
            return True

    def release(self, address: str) -> None:
        with self._lock:
            self._count[address] -= 1
            if self._count[address] <= 0:
                del self._count[address]

    def full(self, address: str) -> bool:
        """Whether ``address`` is at the limit now (a peek, for refusing early; ``admit`` decides)."""
        return self._count.get(address, 0) >= self.limit

    def held(self, address: str) -> int:
        return self._count.get(address, 0)


_serving: UnstartedStreams | None = None  # the count of the application this process serves


def serving(counter: UnstartedStreams) -> None:
    """Announce the count of the application this process serves (the last one built)."""
    global _serving
    _serving = counter


def current() -> UnstartedStreams | None:
    return _serving


def is_stream_upgrade(head: bytes) -> bool:
    """Whether a request head asks to open a Media Streams WebSocket."""
    line, _, rest = head.partition(b"\r\n")
    parts = line.split(b" ")
    if len(parts) != 3 or parts[0] != b"GET" or parts[1].split(b"?")[0] != STREAM_PATH:
        return False
    return any(
        name.strip().lower() == b"upgrade" and value.strip().lower() == b"websocket"
        for name, _, value in (h.partition(b":") for h in rest.split(b"\r\n"))
    )
