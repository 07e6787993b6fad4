"""The nodes of a cluster in Redis: each says every few seconds where it is and how loaded it is.

A node's entry (``hotline:node:<id>``) expires unless renewed, so a node that died drops out within
``3 × every_s``; a draining node removes its entry at once. The voice webhook of a Media Streams call
picks the least-loaded node with room (``pick``): real-time audio stays on the node it was sent to, by
construction, and admission looks at the whole cluster (a call is refused only when no node has room).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import asdict, dataclass

import redis

from voice.runtime.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    url: str  # public base URL of the node itself (Media Streams connect here)
    calls: int  # in progress, every transport
    max_calls: int
    predicted_wait_s: float  # p95 wait of a question with one more call (inf: over capacity)
    seen: float  # time.time() of the entry

    @property
    def has_room(self) -> bool:
        return self.calls < self.max_calls


class NodeRegistry:
    def __init__(self, client: redis.Redis, node_id: str, url: str, runtime: Runtime, every_s: float = 2.0,
                 prefix: str = "hotline:") -> None:
        self.client = client
        self.node_id = node_id
        self.url = url.rstrip("/")
        self.runtime = runtime
        self.every_s = every_s
        self.prefix = prefix
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> NodeRegistry:
        self.beat()
        self._thread = threading.Thread(target=self._loop, name="node-heartbeat", daemon=True)
        self._thread.start()
        return self

    def me(self) -> NodeInfo:
        calls = self.runtime.live_calls()
        return NodeInfo(self.node_id, self.url, calls, self.runtime.policy.max_calls,
                        self.runtime.predicted_wait_s(calls + 1), time.time())

    def beat(self) -> None:
        info = asdict(self.me())
        if math.isinf(info["predicted_wait_s"]):
            info["predicted_wait_s"] = 1e9
        pipe = self.client.pipeline()
        pipe.set(f"{self.prefix}node:{self.node_id}", json.dumps(info), ex=max(1, math.ceil(3 * self.every_s)))
        pipe.sadd(f"{self.prefix}nodes", self.node_id)
        pipe.execute()

    def nodes(self) -> list[NodeInfo]:
        """Nodes alive now (entries renewed in time), draining ones excluded."""
        members = self.client.smembers(f"{self.prefix}nodes")
        ids = sorted(i.decode() if isinstance(i, bytes) else str(i) for i in members)
        if not ids:
            return []
        raw = self.client.mget([f"{self.prefix}node:{i}" for i in ids])
        gone = [i for i, r in zip(ids, raw, strict=True) if r is None]
        if gone:
            self.client.srem(f"{self.prefix}nodes", *gone)
        return [NodeInfo(**json.loads(r)) for r in raw if r is not None]

    def pick(self, wait_budget_s: float) -> NodeInfo | None:
        """The node to take a new real-time call: with room and a predicted wait within the budget, the
        least loaded first; None when no node has room (the call hears the busy message)."""
        fit = [n for n in self.nodes() if n.has_room and n.predicted_wait_s <= wait_budget_s]
        return min(fit, key=lambda n: (n.calls / max(1, n.max_calls), n.predicted_wait_s, n.node_id), default=None)

    def leave(self) -> None:
        """Stop announcing this node and remove it now (draining, or stopping)."""
        self._stop.set()
        try:
            pipe = self.client.pipeline()
            pipe.delete(f"{self.prefix}node:{self.node_id}")
            pipe.srem(f"{self.prefix}nodes", self.node_id)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("could not leave the node registry (%s); the entry expires on its own", exc)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.beat()
            except redis.RedisError as exc:
                log.warning("node heartbeat failed (%s)", exc)
