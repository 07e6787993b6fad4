"""RTP for one call (RFC 3550): G.711 audio in and out, RFC 4733 key events in.

Incoming audio goes through a small reordering buffer (packets are released in sequence order a few
frames late; a lost packet becomes silence, a packet older than what was released is dropped), so
jitter and reordering on the network do not scramble the caller's words. Silence suppression and the end
of the caller's stream are covered by feeding silence when nothing arrives, so endpointing always sees
the end of a question. Outgoing frames come from the hotline's player, already paced at 20 ms; the
channel numbers them (sequence, timestamp, marker at a talkspurt) and fills pauses with silence so the
stream never stops. RTP goes back to where the caller's RTP comes from (symmetric RTP, for NAT).
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from voice.stages.g711 import alaw_decode, alaw_encode, mulaw_decode
from voice.transports.sip.sdp import PCMA, PCMU
from voice.transports.sip.srtp import SrtpContext

log = logging.getLogger(__name__)

FRAME_SAMPLES = 160
EVENT_KEYS = "0123456789*#ABCD"
_MU_TO_A = bytes(alaw_encode(mulaw_decode(bytes(range(256)))))
SILENCE = {PCMU: b"\xff" * FRAME_SAMPLES, PCMA: b"\xd5" * FRAME_SAMPLES}


@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes


def parse_rtp(data: bytes) -> RtpPacket | None:
    """An RTP packet, or None for anything else (RTCP, garbage, other versions)."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    first, second, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
    pt = second & 0x7F
    if 72 <= pt <= 76:  # RTCP multiplexed on the same port
        return None
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:  # header extension
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack("!H", data[offset + 2 : offset + 4])[0]
    end = len(data)
    if first & 0x20:  # padding
        end -= data[-1]
    if offset > end:
        return None
    return RtpPacket(pt, seq, ts, ssrc, bool(second & 0x80), data[offset:end])


def build_rtp(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def mulaw_to_alaw(payload: bytes) -> bytes:
    return payload.translate(_MU_TO_A)


def _newer(a: int, b: int) -> bool:
    """Sequence ``a`` comes after ``b`` (16-bit wrap-around)."""
    return 0 < ((a - b) & 0xFFFF) < 0x8000


class EventDecoder:
    """RFC 4733 telephone events: one key per event, however often its packets are repeated."""

    REPEAT_S = 0.5  # the same timestamp this much later is a new press (a replayed recording)

    def __init__(self) -> None:
        self._last: tuple[int, int] | None = None  # (ssrc, timestamp) of the current event
        self._seen_at = 0.0

    def push(self, packet: RtpPacket, now: float) -> str | None:
        if len(packet.payload) < 4 or packet.payload[0] >= len(EVENT_KEYS):
            return None
        key = (packet.ssrc, packet.timestamp)
        fresh = key != self._last or now - self._seen_at > self.REPEAT_S
        self._last, self._seen_at = key, now
        return EVENT_KEYS[packet.payload[0]] if fresh else None


class JitterBuffer:
    """Reorders audio packets; releases frames in order once ``depth`` packets are waiting."""

    def __init__(self, depth: int = 3, max_gap: int = 10) -> None:
        self.depth, self.max_gap = depth, max_gap
        self._packets: dict[int, bytes] = {}
        self._next: int | None = None
        self._ssrc: int | None = None
        self.late = self.lost = self.duplicates = 0

    def push(self, packet: RtpPacket) -> list[bytes | None]:
        """Frames ready to play, in order; None stands for a lost frame."""
        if packet.ssrc != self._ssrc:  # a new source (a re-INVITE, a transfer, a replayed file): start over
            out = self.flush()
            self._ssrc, self._next = packet.ssrc, packet.sequence
            self._packets = {}
        else:
            out = []
        if self._next is not None and packet.sequence != self._next and not _newer(packet.sequence, self._next):
            self.late += 1
            return out
        if packet.sequence in self._packets:
            self.duplicates += 1
            return out
        self._packets[packet.sequence] = packet.payload
        while len(self._packets) >= self.depth:
            out.extend(self._release())
        return out

    def _release(self) -> list[bytes | None]:
        assert self._next is not None
        if self._next in self._packets:
            payload = self._packets.pop(self._next)
            self._next = (self._next + 1) & 0xFFFF
            return [payload]
        oldest = min(self._packets, key=lambda s: (s - self._next) & 0xFFFF)  # type: ignore[operator]
        gap = (oldest - self._next) & 0xFFFF
        self.lost += gap
        self._next = oldest
        return [None] * min(gap, self.max_gap)

    def flush(self) -> list[bytes | None]:
        out: list[bytes | None] = []
        while self._packets:
            out.extend(self._release())
        return out


class RtpChannel:
    """The call's RTP socket: a reader thread feeding ``on_audio``/``on_digit``, and ``send_frame``."""

    def __init__(self, sock: socket.socket, on_audio: Callable[[np.ndarray], None],
                 on_digit: Callable[[str], None], is_allowed: Callable[[str], bool]) -> None:
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.on_audio, self.on_digit, self.is_allowed = on_audio, on_digit, is_allowed
        self.remote: tuple[str, int] | None = None
        self.latched = False
        self.codec, self.payload_type, self.event_pt = PCMU, PCMU, 101
        self.sending = True  # false while the caller holds the call
        self.jitter = JitterBuffer()
        self.events = EventDecoder()
        self._ssrc = random.getrandbits(32)
        self._seq = random.getrandbits(16)
        self._ts = random.getrandbits(32)
        self._send_lock = threading.Lock()
        self._clock: float | None = None  # wall time up to which the sent stream covers
        self._talking = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rtp-{self.port}", daemon=True)
        self.last_received: float | None = None
        self.first_sent_at: float | None = None  # when the first frame of real audio went out
        self.received = self.sent = 0
        self.srtp: SrtpContext | None = None  # encrypted media (RTP/SAVP): every packet through it

    def configure(self, address: str, port: int, payload_type: int, codec: int, event_pt: int | None,
                  sending: bool = True, srtp: SrtpContext | None = None) -> None:
        self.srtp = srtp
        if not self.latched:
            self.remote = (address, port) if port else None
        self.payload_type, self.codec, self.sending = payload_type, codec, sending
        self.event_pt = event_pt if event_pt is not None else -1

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=1)
        with contextlib.suppress(OSError):
            self.sock.close()

    # ---- out ------------------------------------------------------------------------------------

    def send_frame(self, mulaw: bytes, audio: bool = True) -> None:
        """One 20 ms frame (8 kHz mu-law from the player); silence fill uses ``audio=False``."""
        now = time.monotonic()
        with self._send_lock:
            if self.remote is None or not self.sending or self._stop.is_set():
                return
            payload = mulaw_to_alaw(mulaw) if self.codec == PCMA else mulaw
            marker = audio and not self._talking
            self._talking = audio
            self._seq = (self._seq + 1) & 0xFFFF
            self._ts = (self._ts + FRAME_SAMPLES) & 0xFFFFFFFF
            self._clock = max(self._clock or now, now - 0.02) + 0.02
            packet = build_rtp(self.payload_type, self._seq, self._ts, self._ssrc, payload, marker)
            if self.srtp is not None:
                packet = self.srtp.protect(packet)
            with contextlib.suppress(OSError):
                self.sock.sendto(packet, self.remote)
                self.sent += 1
            if audio and self.first_sent_at is None:
                self.first_sent_at = now

    def _fill_silence(self, now: float) -> None:
        """Keep the stream going while the hotline listens (NAT bindings, far ends that expect media)."""
        clock = self._clock
        if clock is None or now - clock < 0.1:
            return
        while self._clock is not None and self._clock < now and not self._stop.is_set():
            self.send_frame(b"\xff" * FRAME_SAMPLES, audio=False)

    # ---- in -------------------------------------------------------------------------------------

    def _run(self) -> None:
        self.sock.settimeout(0.02)
        fed_until: float | None = None  # caller audio handed on up to this time
        audio_at = 0.0  # when the latest audio packet arrived
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(2048)
            except TimeoutError:
                data, source = b"", ("", 0)
            except OSError:
                return
            now = time.monotonic()
            try:
                frames = self._receive(data, source, now) if data else []
                if data and self.last_received == now:
                    audio_at = now
                if not frames and fed_until is not None and now - audio_at > 0.06:
                    frames = self.jitter.flush()  # the stream paused: what waits for reordering is due
                if frames:
                    fed_until = max(fed_until or now, now - 0.1)
                    fed_until += 0.02 * len(frames)
                    self._feed(frames)
                if fed_until is not None and now - fed_until > 0.1:  # nothing for 100 ms: silence
                    missing = int((now - fed_until) / 0.02)
                    fed_until += missing * 0.02
                    self._feed([None] * missing)
                if self._clock is None and self.remote is not None:
                    self._clock = now - 0.2  # start the outgoing stream at once
                self._fill_silence(now)
            except Exception:
                log.exception("RTP on port %d: packet handling failed", self.port)

    def _receive(self, data: bytes, source: tuple[str, int], now: float) -> list[bytes | None]:
        if self.srtp is not None:
            clear = self.srtp.unprotect(data)  # before anything else: a forged packet never moves the stream
            if clear is None:
                return []
            data = clear
        packet = parse_rtp(data)
        if packet is None or not self.is_allowed(source[0]):
            return []
        if not self.latched or self.remote != source:
            if self.latched:
                log.info("RTP source moved to %s:%d", *source)
            with self._send_lock:
                self.remote, self.latched = (source[0], source[1]), True
        self.received += 1
        if packet.payload_type == self.event_pt:
            key = self.events.push(packet, now)
            if key is not None:
                self.on_digit(key)
            return []
        if packet.payload_type != self.payload_type and packet.payload_type not in (PCMU, PCMA):
            return []  # comfort noise and anything not negotiated
        self.last_received = now
        codec = packet.payload_type if packet.payload_type in (PCMU, PCMA) else self.codec
        return [p if p is None else bytes([codec]) + p for p in self.jitter.push(packet)]

    def _feed(self, frames: list[bytes | None]) -> None:
        chunks = []
        for frame in frames:
            if frame is None:
                chunks.append(np.zeros(FRAME_SAMPLES, dtype=np.float32))
            else:
                chunks.append(alaw_decode(frame[1:]) if frame[0] == PCMA else mulaw_decode(frame[1:]))
        if chunks:
            self.on_audio(np.concatenate(chunks))


def open_rtp_socket(host: str, low: int, high: int) -> socket.socket:
    """A UDP socket on a free even port in [low, high]."""
    start = random.randrange(low, high + 1) & ~1
    span = max(2, high - low + 1)
    for i in range(0, span, 2):
        port = low + ((start - low + i) % span) & ~1
        if port < low:
            continue
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
            return sock
        except OSError:
            sock.close()
    raise OSError(f"no free RTP port in {low}-{high}")
