"""gunicorn's threaded worker, except that a connection gets a thread only once its request has arrived.

With the stock worker a client that sends one byte, or its headers one line every few seconds, holds one
of the worker's threads for as long as it likes; a few dozen such clients (no login needed) leave none
for Twilio's webhooks and the health check. Here the worker's event loop gathers each request's head (and
a small body of announced length) without a thread, the way a reverse proxy buffers requests, and hands
the connection to a thread when the request is complete. A connection that does not finish its request
within ``HEAD_TIMEOUT_S`` is closed, and one client address may have at most ``MAX_GATHERING_PER_ADDRESS``
requests in the making. Requests no thread should ever wait on (a head over 16 KiB, a body over 64 KiB,
a chunked body) are refused here with 431, 413 or 411, and a Media Streams upgrade from an address that
already holds the most sockets without a start with 429. Kept-alive connections are gathered the same way
for each further request. TLS is left to the reverse proxy in front (with ``certfile`` set the stock behaviour applies).
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

from voice.transports.twilio.stream_admission import current as current_streams
from voice.transports.twilio.stream_admission import is_stream_upgrade
from voice.web.throttle import WarnThrottle

HEAD_TIMEOUT_S = 10.0  # the whole request head (and a small body) must arrive within this
MAX_GATHERING_PER_ADDRESS = 32  # requests being received at once from one client address
MAX_HEAD_BYTES = 16384  # a longer request head is answered 431 here
MAX_BODY_BYTES = 65536  # the largest request body (the app's MAX_CONTENT_LENGTH too); larger ones get 413 here
ACCEPT_BATCH = 128  # connections taken from the listen queue per turn of the event loop


@dataclass
class _Gathering:
    deadline: float
    address: str
    data: bytearray = field(default_factory=bytearray)


class GatheringThreadWorker(ThreadWorker):
    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGTERM: drain first (``voice.runtime.drain``; the app's ``hotline_drain``), then stop as usual."""
        drain = getattr(self.wsgi, "extensions", {}).get("hotline_drain")
        if drain is None or drain.started is not None:
            super().handle_exit(sig, frame)
            return
        threading.Thread(target=self._drain_then_exit, args=(drain, sig, frame), name="drain", daemon=True).start()

    def _drain_then_exit(self, drain: Any, sig: int, frame: Any) -> None:
        try:
            drain.run()
        finally:
            super().handle_exit(sig, frame)

    def init_process(self) -> None:
        self.gathering: dict[TConn, _Gathering] = {}
        self.per_address: Counter[str] = Counter()
        self.refused = WarnThrottle()
        self.refused_streams = WarnThrottle()
        super().init_process()

    # ---- where connections come from --------------------------------------------------------------

    def accept(self, listener: Any) -> None:
        if self.cfg.is_ssl:
            super().accept(listener)
            return
        # Take every waiting connection (up to a bound), not one per turn of the event loop: a flood of
        # connections from one client would otherwise fill the listen queue, and a health check or a
        # webhook behind them waits there for seconds before the server even sees it.
        for _ in range(ACCEPT_BATCH):
            if self.nr_conns >= self.worker_connections:
                return
            try:
                client_sock, client_addr = listener.accept()
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                    raise
                return
            self.nr_conns += 1
            self._gather(TConn(self.cfg, client_sock, client_addr, listener.getsockname()))

    def on_client_socket_readable(self, conn: TConn, client: Any) -> None:
        if self.cfg.is_ssl:
            super().on_client_socket_readable(conn, client)
            return
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._gather(conn)

    # ---- gathering a request without a thread ------------------------------------------------------

    def _gather(self, conn: TConn) -> None:
        address = conn.client[0] if isinstance(conn.client, tuple) else str(conn.client)
        if self.per_address[address] >= MAX_GATHERING_PER_ADDRESS:
            self._refuse(address)
            self._close(conn)
            return
        self.per_address[address] += 1
        conn.sock.setblocking(False)
        self.gathering[conn] = _Gathering(time.monotonic() + HEAD_TIMEOUT_S, address)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._readable, conn))

    def _readable(self, conn: TConn, _client: Any) -> None:
        state = self.gathering[conn]
        try:
            chunk = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client went away before finishing its request
            self._stop_gathering(conn)
            self._close(conn)
            return
        state.data += chunk
        verdict = judge(state.data)
        if verdict == "wait":
            return
        self._stop_gathering(conn)
        streams = current_streams()
        if verdict == "complete" and streams and streams.full(state.address) and is_stream_upgrade(bytes(state.data)):
            verdict = "429"  # the stream endpoint would only close it again, after a thread and a handshake
            if count := self.refused_streams.count(state.address):
                self.log.warning(
                    "media streams refused: %s holds %d sockets without a start (%d refused)",
                    state.address,
                    streams.limit,
                    count,
                )
        if verdict == "complete":
            self._hand_over(conn, bytes(state.data))
        else:  # refused before any thread is involved: a slow client could otherwise hold one reading on
            with contextlib.suppress(OSError):
                conn.sock.send(REFUSALS[verdict])
            self._close(conn)

    def _refuse(self, address: str) -> None:
        if count := self.refused.count(address):
            self.log.warning("too many unfinished requests from %s: %d connections closed", address, count)

    def _hand_over(self, conn: TConn, data: bytes) -> None:
        conn.data_ready = True
        if conn.initialized:
            conn.parser.unreader.unread(data)
        else:
            conn.hotline_prefix = data  # given to the parser once the thread has set it up
        self.enqueue_req(conn)

    def _stop_gathering(self, conn: TConn) -> None:
        state = self.gathering.pop(conn)
        self.per_address[state.address] -= 1
        if self.per_address[state.address] <= 0:
            del self.per_address[state.address]
        with contextlib.suppress(OSError, KeyError, ValueError):
            self.poller.unregister(conn.sock)

    def _close(self, conn: TConn) -> None:
        self.nr_conns -= 1
        conn.close()

    def finish_request(self, conn: TConn, fs: Any) -> None:
        # gunicorn counts a connection down twice when closing it fails (a WebSocket the endpoint has
        # already closed): once before the close and once in its error path. Count it down once.
        before: int = self.nr_conns  # type: ignore[has-type]
        super().finish_request(conn, fs)
        self.nr_conns = max(self.nr_conns, before - 1)  # type: ignore[has-type]

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c, s in self.gathering.items() if s.deadline <= now]:
            self._stop_gathering(conn)
            self._close(conn)

    def handle(self, conn: TConn) -> Any:
        prefix = getattr(conn, "hotline_prefix", None)
        if prefix is not None:
            conn.hotline_prefix = None
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(prefix)
        return super().handle(conn)


REFUSALS = {
    status.split()[0]: f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".encode()
    for status in (
        "411 Length Required",
        "413 Content Too Large",
        "429 Too Many Requests",
        "431 Request Header Fields Too Large",
    )
}


def judge(data: bytearray) -> str:
    """"wait" for more, "complete" (head and announced body there), or a status to refuse it with: "431"
    (head too long), "413" (body too long), "411" (a body without a length: chunked uploads are not taken)."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return "431" if len(data) > MAX_HEAD_BYTES else "wait"
    length = 0
    for line in bytes(data[:end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip()
        if name == b"content-length":
            if not value.isdigit() or len(value) > 12:
                return "complete"  # gunicorn answers 400 to a malformed length
            length = int(value)
        elif name == b"transfer-encoding":
            return "411"
    if length > MAX_BODY_BYTES:
        return "413"
    return "complete" if len(data) >= end + 4 + length else "wait"
