"""The Media Streams calls of one node: streams announced by the voice webhook (or handed over by another
node), live sessions, and how each ended."""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import redis

from voice.runtime.cluster.stream_directory import StreamDirectory
from voice.runtime.runtime import LiveCall
from voice.runtime.stream.session import StreamSession
from voice.transports.twilio import stream_admission
from voice.transports.twilio.stream_admission import UnstartedStreams
from voice.web.throttle import WarnThrottle

log = logging.getLogger(__name__)
REGISTRATION_TTL_S = 120.0


class ProtocolError(ValueError):
    """A message that is not valid Media Streams protocol at this point of the stream."""


@dataclass
class _Registration:
    store_call_id: str
    office_open: bool
    caller_number: str | None = None  # in memory only, for the SMS the caller may ask for
    created: float = field(default_factory=time.monotonic)
    handed: bool = False  # admitted by another node of the cluster, which sent the stream here


class StreamCalls:
    """Streams announced by the voice webhook, live sessions, and how each ended (process-local)."""

    def __init__(self, secret: bytes, workers: int = 8) -> None:
        self.secret = secret
        self.lock = threading.Lock()
        self.registered: dict[str, _Registration] = {}
        self.active: dict[str, StreamSession] = {}
        self.outcomes: dict[str, str] = {}  # CallSid -> "transfer" | "hangup"
        self.live: dict[str, LiveCall | None] = {}  # CallSid -> the runtime's count, until the stream ends
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stream-work")
        self.finished: list[StreamSession] = []  # recent sessions, for tests and the benchmark
        self.unstarted = UnstartedStreams()
        stream_admission.serving(self.unstarted)  # the worker's event loop refuses beyond the limit too
        self.refusals = WarnThrottle()
        self.directory: StreamDirectory | None = None  # several nodes: calls handed between them

    def hand_over(self, call_sid: str, store_call_id: str, office_open: bool, node_url: str) -> None:
        """Another node takes this call's stream (``voice.runtime.cluster.nodes.NodeRegistry.pick``)."""
        if self.directory is None:
            raise RuntimeError("handing a stream to another node needs HOTLINE_REDIS_URL")
        self.directory.hand(call_sid, store_call_id, office_open, node_url)

    def handed_before(self, call_sid: str) -> tuple[str, str] | None:
        """The stored call id and node of a stream this or another node already handed over and that has
        not started yet: Twilio repeats a voice webhook it got no answer to in time, maybe on another node."""
        if self.directory is None:
            return None
        try:
            handed = self.directory.handed(call_sid)
        except redis.RedisError as exc:
            log.warning("whether call %s was handed over already is unknown here (%s)", call_sid, exc)
            return None
        if handed is None or not handed.get("node_url"):
            return None
        return str(handed["store_call_id"]), str(handed["node_url"])

    def outcome_elsewhere(self, call_sid: str) -> dict[str, Any] | None:
        """How a stream that ran on another node ended (for ``stream-ended`` on this one)."""
        if self.directory is None:
            return None
        try:
            return self.directory.outcome(call_sid)
        except redis.RedisError as exc:
            log.warning("how the stream of call %s ended is unknown here (%s)", call_sid, exc)
            return None

    def token(self, call_sid: str) -> str:
        return hmac.new(self.secret, f"stream:{call_sid}".encode(), hashlib.sha256).hexdigest()

    def register(self, call_sid: str, store_call_id: str, office_open: bool, live: LiveCall | None = None,
                 caller_number: str | None = None) -> str:
        with self.lock:
            now = time.monotonic()
            for sid in [s for s, r in self.registered.items() if now - r.created > REGISTRATION_TTL_S]:
                del self.registered[sid]
                expired = self.live.pop(sid, None)
                if expired is not None:
                    expired.release()  # the stream never came
            self.registered[call_sid] = _Registration(store_call_id, office_open, caller_number)
            if live is not None:  # a repeated webhook keeps the place its first one took
                self.live[call_sid] = live
        return self.token(call_sid)

    def known_call(self, call_sid: str) -> str | None:
        """The stored call id of a stream already announced or running."""
        with self.lock:
            registration = self.registered.get(call_sid)
            if registration is not None:
                return registration.store_call_id
            session = self.active.get(call_sid)
            return session.record.id if session is not None else None

    def claim(self, call_sid: str, token: str, caller: str | None = None) -> _Registration:
        """The registration of ``call_sid`` if ``token`` is right (usable once): this node's own, or one
        handed over by another node (``caller``: the number that node passed along as a parameter)."""
        if not hmac.compare_digest(self.token(call_sid), token):
            raise ProtocolError("stream token does not match the call")
        with self.lock:
            registration = self.registered.pop(call_sid, None)
        if registration is None and self.directory is not None:
            try:
                handed = self.directory.take(call_sid)
            except redis.RedisError as exc:
                raise ProtocolError(f"the stream's hand-over cannot be read ({exc})") from exc
            if handed is not None:
                registration = _Registration(str(handed["store_call_id"]), bool(handed["office_open"]), caller,
                                             handed=True)
        if registration is None:
            raise ProtocolError("no voice webhook announced this stream (or it was already used)")
        return registration

    def recent(self, call_sid: str) -> StreamSession | None:
        """A session of ``call_sid`` that ended a moment ago (its stream closed before Twilio asked)."""
        with self.lock:
            return next((s for s in reversed(self.finished) if s.driver.state.call_id == call_sid), None)

    def ended(self, session: StreamSession, call_sid: str) -> None:
        with self.lock:
            self.active.pop(call_sid, None)
            live = self.live.pop(call_sid, None)
        if live is not None:
            live.release()
        with self.lock:
            self.finished = [*self.finished[-31:], session]
