"""A scripted SIP caller for benchmarks: UDP or TLS signalling, plain RTP or SRTP (SDES), real time.

It dials, waits for the answer, speaks a question over the greeting (G.711 A-law, 20 ms packets), keeps
sending silence, and times the first answer packet with speech after its last voiced packet; then it
hangs up. Set-up time: from starting to dial (the TLS handshake included, a fresh connection per call)
to the 200 OK. Not part of the hotline.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice.core.domain import AudioClip
from voice.stages.audio import resample
from voice.stages.g711 import alaw_decode, alaw_encode
from voice.transports.sip.framing import StreamFramer
from voice.transports.sip.rtp import build_rtp, parse_rtp
from voice.transports.sip.sdp import SRTP_SUITES, new_key, parse_offer
from voice.transports.sip.srtp import SrtpContext

FRAME = 160  # 20 ms at 8 kHz


@dataclass
class Timing:
    setup_ms: float
    wait_ms: float | None  # None: no answer with speech heard


class SipCaller:
    def __init__(self, host: str, port: int, transport: str = "udp", cafile: Path | None = None,
                 srtp: bool = False) -> None:
        self.host, self.port, self.transport, self.srtp = host, port, transport, srtp
        self.tls = ssl.create_default_context(cafile=str(cafile)) if transport == "tls" else None

    def call(self, question: AudioClip, talk_after_s: float = 1.0, listen_s: float = 8.0) -> Timing:
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.bind(("127.0.0.1", 0))
        rtp.settimeout(0.02)
        signalling = _Signalling(self)
        call_id, key = uuid.uuid4().hex, new_key()
        started = time.perf_counter()
        try:
            signalling.connect()
            invite = self._invite(call_id, rtp.getsockname()[1], key)
            signalling.send(invite)
            ok = signalling.final(call_id)
            setup_ms = (time.perf_counter() - started) * 1000
            answer = parse_offer(ok.split(b"\r\n\r\n", 1)[1])
            signalling.send(self._in_dialog("ACK", call_id, ok, 1))
            srtp = SrtpContext(answer.crypto.suite, answer.crypto.key, key) if answer.crypto else None
            wait = _Media(rtp, (answer.address, answer.port), srtp).talk(question, talk_after_s, listen_s)
            signalling.send(self._in_dialog("BYE", call_id, ok, 2))
            signalling.final(call_id, timeout=5)
            return Timing(setup_ms, wait)
        finally:
            signalling.close()
            rtp.close()

    def _via(self) -> str:
        proto = "TLS" if self.transport == "tls" else "UDP"
        return f"SIP/2.0/{proto} 127.0.0.1:5099;branch=z9hG4bK{uuid.uuid4().hex[:12]};rport"

    def _invite(self, call_id: str, rtp_port: int, key: str) -> bytes:
        profile = "RTP/SAVP" if self.srtp else "RTP/AVP"
        sdp = ("v=0\r\no=bench 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               f"m=audio {rtp_port} {profile} 8 101\r\na=rtpmap:8 PCMA/8000\r\n"
               "a=rtpmap:101 telephone-event/8000\r\n"
               + (f"a=crypto:1 {SRTP_SUITES[0]} inline:{key}\r\n" if self.srtp else "") + "a=sendrecv\r\n")
        scheme = "sips" if self.transport == "tls" else "sip"
        return (f"INVITE {scheme}:hotline@{self.host}:{self.port} SIP/2.0\r\nVia: {self._via()}\r\n"
                f"From: <sip:bench@127.0.0.1>;tag=b{call_id[:8]}\r\nTo: <sip:hotline@{self.host}>\r\n"
                f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:bench@127.0.0.1:5099>\r\n"
                f"Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
                ).encode()

    def _in_dialog(self, method: str, call_id: str, ok: bytes, cseq: int) -> bytes:
        head = ok.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
        to = next(ln.split(":", 1)[1].strip() for ln in head.split("\r\n") if ln.lower().startswith("to:"))
        return (f"{method} sip:hotline@{self.host}:{self.port} SIP/2.0\r\nVia: {self._via()}\r\n"
                f"From: <sip:bench@127.0.0.1>;tag=b{call_id[:8]}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
                f"CSeq: {cseq if method != 'ACK' else 1} {method}\r\nMax-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n").encode()


class _Signalling:
    def __init__(self, caller: SipCaller) -> None:
        self.caller = caller
        self.sock: socket.socket | None = None
        self.framer = StreamFramer(65536)  # the hotline's own stream framing (sans-IO)
        self.pending: list[bytes] = []

    def connect(self) -> None:
        c = self.caller
        if c.transport == "tls":
            assert c.tls is not None
            self.sock = c.tls.wrap_socket(socket.create_connection((c.host, c.port), timeout=5),
                                          server_hostname=c.host)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.settimeout(5)

    def send(self, data: bytes) -> None:
        assert self.sock is not None
        if self.caller.transport == "tls":
            self.sock.sendall(data)
        else:
            self.sock.sendto(data, (self.caller.host, self.caller.port))

    def final(self, call_id: str, timeout: float = 15) -> bytes:
        """The next final response (provisional ones are skipped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self._next()
            status = message[8:11]
            if message.startswith(b"SIP/2.0 ") and status.isdigit() and int(status) >= 200:
                if int(status) >= 300:
                    raise RuntimeError(f"call refused: {message[:40]!r}")
                return message
        raise TimeoutError("no final response")

    def _next(self) -> bytes:
        assert self.sock is not None
        if self.caller.transport != "tls":
            return self.sock.recv(65535)
        while not self.pending:
            chunk = self.sock.recv(65535)
            if not chunk:
                raise ConnectionError("the hotline closed the connection")
            self.pending += self.framer.feed(chunk).messages
        return self.pending.pop(0)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


class _Media:
    def __init__(self, sock: socket.socket, remote: tuple[str, int], srtp: SrtpContext | None) -> None:
        self.sock, self.remote, self.srtp = sock, remote, srtp

    def talk(self, question: AudioClip, talk_after_s: float, listen_s: float) -> float | None:
        samples = resample(question, 8000).samples
        voiced = np.flatnonzero(np.abs(samples) > 0.02)
        last_voiced_frame = int(voiced[-1] // FRAME) if len(voiced) else 0
        frames = [samples[i:i + FRAME] for i in range(0, len(samples), FRAME)]
        first_question = int(talk_after_s / 0.02)
        total = first_question + len(frames) + int(listen_s / 0.02)
        last_voiced_at: float | None = None
        answered_at: float | None = None
        stop = threading.Event()

        def receive() -> None:
            nonlocal answered_at
            while not stop.is_set():
                try:
                    data = self.sock.recv(2048)
                except (TimeoutError, OSError):
                    continue
                now = time.perf_counter()
                if self.srtp is not None:
                    clear = self.srtp.unprotect(data)
                    if clear is None:
                        continue
                    data = clear
                packet = parse_rtp(data)
                if packet is None or last_voiced_at is None or now <= last_voiced_at or answered_at is not None:
                    continue
                audio = alaw_decode(packet.payload) if packet.payload_type == 8 else None
                if audio is not None and float(np.sqrt((audio ** 2).mean())) > 0.01:
                    answered_at = now

        listener = threading.Thread(target=receive, daemon=True)
        listener.start()
        start = time.perf_counter()
        for i in range(total):
            q = i - first_question
            frame = frames[q] if 0 <= q < len(frames) else np.zeros(FRAME, np.float32)
            frame = np.pad(frame, (0, FRAME - len(frame)))
            packet = build_rtp(8, i & 0xFFFF, (i * FRAME) & 0xFFFFFFFF, 0xBE7C, alaw_encode(frame), i == 0)
            self.sock.sendto(self.srtp.protect(packet) if self.srtp else packet, self.remote)
            if q == last_voiced_frame:
                last_voiced_at = time.perf_counter()
            time.sleep(max(0.0, start + (i + 1) * 0.02 - time.perf_counter()))
        stop.set()
        listener.join(1)
        return None if answered_at is None or last_voiced_at is None else (answered_at - last_voiced_at) * 1000
