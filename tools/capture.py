"""A packet capture on the loopback interface (Linux, root): what really went over the wire, with times.

Tests and the benchmark use it to see RTP between SIPp and the hotline the way tcpdump would: SIPp sends
the caller's audio from a raw socket and cannot record what it receives, so the capture is the only
witness of both directions.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


@dataclass(frozen=True)
class UdpPacket:
    at: float  # time.monotonic() when captured
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


@dataclass
class LoopbackCapture:
    """Captures UDP packets on ``lo`` while running (``with LoopbackCapture() as cap: ...``)."""

    interface: str = "lo"
    packets: list[UdpPacket] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(ETH_P_ALL))
        self._sock.bind((self.interface, 0))
        self._sock.settimeout(0.1)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def __enter__(self) -> LoopbackCapture:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        with contextlib.suppress(OSError):
            self._sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                frame, address = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.monotonic()
            if address[2] == PACKET_OUTGOING:  # loopback shows each packet twice: keep the delivered copy
                continue
            packet = _udp(frame)
            if packet is not None:
                self.packets.append(UdpPacket(now, *packet))

    def between(self, src_port: int | None = None, dst_port: int | None = None) -> list[UdpPacket]:
        return [p for p in list(self.packets)
                if (src_port is None or p.src[1] == src_port) and (dst_port is None or p.dst[1] == dst_port)]


def _udp(frame: bytes) -> tuple[tuple[str, int], tuple[str, int], bytes] | None:
    if len(frame) < 14 + 20 + 8 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    if ip[0] >> 4 != 4 or ip[9] != 17:
        return None
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
    sport, dport = struct.unpack("!HH", ip[ihl : ihl + 4])
    return (src, sport), (dst, dport), ip[ihl + 8 : total]
