"""The SIP server's sockets: UDP, TCP and TLS on their ports, each message handed to one callback.

Only bytes move here. Datagrams are messages as they are; on TCP and TLS a ``StreamFramer`` cuts the
stream at Content-Length. Every message comes with its ``Flow``: how to answer on the same path
(symmetric, NAT-friendly), and whether that path is reliable (no retransmissions over TCP and TLS).
TLS (RFC 3261 section 26, ``sips:``) uses Python's ``ssl`` with the configured certificate and key,
TLS 1.2 or newer; the handshake runs in the connection's thread with a deadline.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass

from voice.transports.sip.framing import FramingError, StreamFramer

log = logging.getLogger(__name__)
HANDSHAKE_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 300.0  # a stream connection with nothing on it for this long is closed


@dataclass
class Flow:
    """Where a message came from, and how to answer on the same path."""

    transport: str  # "UDP" | "TCP" | "TLS"
    addr: tuple[str, int]
    send: Callable[[bytes], None]
    local: str = ""  # our address as the peer sees it
    port: int = 0  # our port on this transport

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"


Receiver = Callable[[bytes, Flow], None]


def tls_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """A server context for SIP over TLS (TLS 1.2 or newer, the certificate and key from files).

    Raises:
        OSError, ssl.SSLError: the files cannot be read or do not belong together.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    return context


class Transports:
    """Listening sockets for one SIP server; ``receive`` gets every message with its flow."""

    def __init__(self, receive: Receiver, max_message_bytes: int, stop: threading.Event) -> None:
        self.receive, self.limit, self.stop_event = receive, max_message_bytes, stop
        self.udp: socket.socket | None = None
        self.tcp: socket.socket | None = None
        self.tls: socket.socket | None = None
        self.tls_context: ssl.SSLContext | None = None
        self.port = 0
        self.tls_port = 0

    def open(self, host: str, port: int, tls_port: int = -1, context: ssl.SSLContext | None = None) -> None:
        """UDP and TCP on ``port`` (0: any free one), TLS on ``tls_port`` when a context is given."""
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((host, port))
        self.port = self.udp.getsockname()[1]
        self.tcp = _listener(host, self.port)
        loops: list[tuple[Callable[[], None], str]] = [(self._serve_udp, "sip-udp"), (self._serve_tcp, "sip-tcp")]
        if context is not None and tls_port >= 0:
            self.tls_context = context
            self.tls = _listener(host, tls_port)
            self.tls_port = self.tls.getsockname()[1]
            loops.append((self._serve_tls, "sip-tls"))
        for target, name in loops:
            threading.Thread(target=target, name=name, daemon=True).start()

    def close(self) -> None:
        for sock in (self.udp, self.tcp, self.tls):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()

    # ---- loops --------------------------------------------------------------------------------------

    def _serve_udp(self) -> None:
        assert self.udp is not None
        sock = self.udp
        while not self.stop_event.is_set():
            try:
                data, addr = sock.recvfrom(65535)
            except OSError:
                return
            if data.strip(b"\r\n\x00 ") == b"":
                continue  # keep-alive
            self.receive(data, Flow("UDP", addr, _udp_sender(sock, addr), port=self.port))

    def _serve_tcp(self) -> None:
        self._accept(self.tcp, "TCP")

    def _serve_tls(self) -> None:
        self._accept(self.tls, "TLS")

    def _accept(self, listener: socket.socket | None, transport: str) -> None:
        assert listener is not None
        while not self.stop_event.is_set():
            try:
                conn, addr = listener.accept()
            except OSError:
                return
            threading.Thread(
                target=self._connection, args=(conn, addr, transport), daemon=True, name=f"sip-{transport.lower()}-conn"
            ).start()

    def _connection(self, conn: socket.socket, addr: tuple[str, int], transport: str) -> None:
        try:
            if transport == "TLS":
                assert self.tls_context is not None
                conn.settimeout(HANDSHAKE_TIMEOUT_S)
                try:
                    conn = self.tls_context.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError) as exc:
                    log.info("SIP/TLS %s: handshake failed: %s", addr[0], exc)
                    return
            self._stream(conn, addr, transport)
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _stream(self, conn: socket.socket, addr: tuple[str, int], transport: str) -> None:
        lock = threading.Lock()

        def send(out: bytes) -> None:
            with lock:
                conn.sendall(out)

        flow = Flow(transport, addr, send, port=self.tls_port if transport == "TLS" else self.port)
        framer = StreamFramer(self.limit)
        conn.settimeout(IDLE_TIMEOUT_S)
        try:
            while not self.stop_event.is_set():
                chunk = conn.recv(65536)
                if not chunk:
                    return
                try:
                    framed = framer.feed(chunk)
                except FramingError as exc:
                    log.warning("SIP/%s %s: %s; closing", transport, addr[0], exc)
                    if exc.head:
                        self.receive(exc.head, flow)  # answered 413 or 400: it can say so without the body
                    return
                for _ in range(framed.pongs):
                    send(b"\r\n")  # RFC 5626 keep-alive pong
                for message in framed.messages:
                    self.receive(message, flow)
        except OSError:
            return


def _listener(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(64)
    return sock


def _udp_sender(sock: socket.socket, addr: tuple[str, int]) -> Callable[[bytes], None]:
    def send(data: bytes) -> None:
        sock.sendto(data, addr)

    return send
