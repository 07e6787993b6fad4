"""Latency of a question over SIP: SIPp calls the real hotline (``app.py sip``) on loopback.

Starts ``python app.py sip`` (real Whisper, retrieval, eSpeak NG, SQLite; office closed so no transfer),
then lets SIPp place calls one after the other. Each caller talks over the greeting with a recorded
question (a pcap built from the recording, G.711 A-law or mu-law) and hangs up while the answer plays. A
capture on ``lo`` times, per call, the last RTP packet that carries the question (sent by SIPp) and
the first answer packet with speech in it (sent by the hotline): the caller's wait. Needs root.

    python bench/bench_sip.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.realtime import closed_office, percentile, provenance  # noqa: E402
from tools.capture import LoopbackCapture  # noqa: E402
from tools.load_client import trim_silence  # noqa: E402
from tools.pcap import PCMA, PCMU, CallerAudio, write_caller_pcap  # noqa: E402
from tools.sipp import free_port, run_sipp  # noqa: E402
from voice.stages.audio import load_audio  # noqa: E402
from voice.stages.g711 import alaw_decode, mulaw_decode  # noqa: E402
from voice.transports.sip.rtp import parse_rtp  # noqa: E402

MAX_QUESTION_S = 5.0  # the scenario hangs up 7 s after the question starts


def wait_ready(port: int, timeout: float = 300.0) -> None:
    probe = (b"OPTIONS sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKp\r\n"
             b"From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:hotline@127.0.0.1>\r\nCall-ID: ready\r\n"
             b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        while time.monotonic() < deadline:
            sock.sendto(probe, ("127.0.0.1", port))
            try:
                if sock.recv(4096).startswith(b"SIP/2.0 200"):
                    return
            except TimeoutError:
                pass
    raise TimeoutError("the SIP server did not come up")


def measure(capture: LoopbackCapture, audio: CallerAudio, sipp_media_port: int) -> float | None:
    caller = [(p.at, r) for p in capture.between(src_port=sipp_media_port)
              if (r := parse_rtp(p.payload)) is not None and r.ssrc == audio.ssrc]
    if not caller:
        return None
    last_index = round(audio.voiced_last_s / 0.02)
    last_voiced = next((t for t, r in caller if r.sequence == 1000 + last_index), None)
    if last_voiced is None:
        return None
    hotline_port = capture.between(src_port=sipp_media_port)[0].dst[1]
    for packet in capture.between(src_port=hotline_port, dst_port=sipp_media_port):
        rtp = parse_rtp(packet.payload)
        if rtp is None or packet.at <= last_voiced:
            continue
        samples = (alaw_decode if rtp.payload_type == PCMA else mulaw_decode)(rtp.payload)
        if float(np.sqrt((samples**2).mean())) > 0.01:
            return (packet.at - last_voiced) * 1000.0
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="calls per question and codec")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sip-"))
    port = free_port()
    env = {**os.environ, "HOTLINE_SIP_PORT": str(port), "HOTLINE_SIP_RTP_PORTS": "41000-41999",
           "HOTLINE_DATABASE_URL": f"sqlite:///{tmp / 'calls.db'}", "HOTLINE_OFFICE_PROFILE": str(closed_office(tmp)),
           "HOTLINE_LOG_LEVEL": "WARNING", "HOTLINE_DRAIN_GRACE_S": "10"}
    server = subprocess.Popen([sys.executable, "app.py", "sip"], cwd=ROOT, env=env)
    rows: list[tuple[str, str, float | None]] = []
    try:
        wait_ready(port)
        questions = []
        for path in sorted((ROOT / "tests/data/speech").glob("*.*")):
            clip = trim_silence(load_audio(path)) if path.suffix in (".wav", ".ogg") else None
            if clip is not None and clip.duration_s <= MAX_QUESTION_S:
                for codec in (PCMA, PCMU):
                    pcap = write_caller_pcap(tmp / f"{path.stem}-{codec}.pcap", clip, codec)
                    questions.append((path.name, codec, pcap))
        for _ in range(args.rounds):
            for name, codec, audio in questions:
                media = free_port()
                codec_name = "PCMA" if codec == PCMA else "PCMU"
                keys = {"question": str(audio.path), "codec_pt": str(codec), "codec_name": codec_name}
                with LoopbackCapture() as capture:
                    result = run_sipp("hangup_mid_answer", f"127.0.0.1:{port}", keys=keys, media_port=media,
                                      workdir=tmp)
                wait = measure(capture, audio, media) if result.ok else None
                rows.append((name, "PCMA" if codec == PCMA else "PCMU", wait))
                print(f"{name:28} {rows[-1][1]}  {'failed' if wait is None else f'{wait:6.0f} ms'}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    waits = [w for _, _, w in rows if w is not None]
    print()
    print(f"Measured on {provenance()}\n")
    print("| calls | measured | median | p90 | min | max |")
    print("|---|---|---|---|---|---|")
    print(f"| {len(rows)} | {len(waits)} | {percentile(waits, 0.5):.0f} ms | {percentile(waits, 0.9):.0f} ms | "
          f"{min(waits, default=float('nan')):.0f} ms | {max(waits, default=float('nan')):.0f} ms |")
    return 0 if len(waits) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
