"""Caller audio as a pcap capture of RTP packets, for SIPp's ``play_pcap_audio`` (tests, benchmark, demos).

The capture holds one 20 ms G.711 packet per 20 ms (Ethernet, IPv4, UDP, RTP): optional line noise
before, the recorded question, then line noise after it, as a phone would keep sending. SIPp replays it
with the capture's timing to the hotline's RTP port, from its own media port.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice.core.domain import AudioClip
from voice.stages.audio import PHONE_RATE, resample
from voice.stages.g711 import alaw_encode, mulaw_encode
from voice.transports.sip.rtp import FRAME_SAMPLES, build_rtp
from voice.transports.sip.sdp import PCMA, PCMU


@dataclass(frozen=True)
class CallerAudio:
    path: Path
    packets: int
    voiced_last_s: float  # offset of the last packet that carries the question, from the first packet
    ssrc: int


def _ip_udp(payload: bytes, sport: int, dport: int) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    total = 20 + len(udp)
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    words = struct.unpack("!10H", header)
    checksum = sum(words)
    checksum = (checksum & 0xFFFF) + (checksum >> 16)
    checksum = ~((checksum & 0xFFFF) + (checksum >> 16)) & 0xFFFF
    header = header[:10] + struct.pack("!H", checksum) + header[12:]
    return b"\x00" * 12 + b"\x08\x00" + header + udp  # Ethernet: zero MACs, IPv4


def write_caller_pcap(path: Path, clip: AudioClip, codec: int = PCMA, before_s: float = 0.0,
                      after_s: float = 3.0, noise_db: float = -60.0, ssrc: int = 0x4A11C0DE) -> CallerAudio:
    """Write the capture; returns where the question ends in it."""
    audio = resample(clip, PHONE_RATE).samples.astype(np.float32)
    rng = np.random.default_rng(1)
    level = 10 ** (noise_db / 20.0)

    def noise(seconds: float) -> np.ndarray:
        return (rng.standard_normal(int(seconds * PHONE_RATE)) * level).astype(np.float32)

    lead, question = noise(before_s), np.concatenate([audio, np.zeros(-len(audio) % FRAME_SAMPLES, np.float32)])
    samples = np.concatenate([lead, question, noise(after_s)])
    samples = samples[: len(samples) // FRAME_SAMPLES * FRAME_SAMPLES]
    encode = alaw_encode if codec == PCMA else mulaw_encode
    frames = samples.reshape(-1, FRAME_SAMPLES)
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i, frame in enumerate(frames):
        rtp = build_rtp(codec, 1000 + i, 160000 + i * FRAME_SAMPLES, ssrc, encode(frame), marker=i == 0)
        packet = _ip_udp(rtp, 6000, 10000)
        usec = i * 20000
        out += struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(packet), len(packet)) + packet
    path.write_bytes(bytes(out))
    last_voiced = (len(lead) + len(audio) - 1) // FRAME_SAMPLES
    return CallerAudio(path, len(frames), last_voiced * 0.02, ssrc)


__all__ = ["PCMA", "PCMU", "CallerAudio", "write_caller_pcap"]
