"""SIP over TLS with SRTP against plain SIP over UDP with RTP, same server, same run.

Starts ``python app.py sip`` (real Whisper, retrieval, eSpeak NG, SQLite; office closed) with a TLS port
(a throw-away certificate authority) and SRTP allowed, then calls it alternately in both ways with the
same recorded questions (``tools/sip_caller.py``: the question spoken over the greeting, the first answer
packet with speech timed against the last voiced question packet). Set-up time: from dialling (a fresh
TLS connection and handshake per call) to the 200 OK, of which the hotline rings 300 ms.

    python bench/bench_sip_secure.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_sip import MAX_QUESTION_S, wait_ready  # noqa: E402
from bench.realtime import closed_office, percentile, provenance  # noqa: E402
from tools.certs import throwaway_ca  # noqa: E402
from tools.load_client import trim_silence  # noqa: E402
from tools.sip_caller import SipCaller, Timing  # noqa: E402
from tools.sipp import free_port  # noqa: E402
from voice.stages.audio import load_audio  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="calls per question and way")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sip-tls-"))
    ca, cert, key = throwaway_ca(tmp)
    port, tls_port = free_port(), free_port()
    env = {**os.environ, "HOTLINE_SIP_PORT": str(port), "HOTLINE_SIP_RTP_PORTS": "42000-42999",
           "HOTLINE_SIP_TLS_PORT": str(tls_port), "HOTLINE_SIP_TLS_CERT": str(cert), "HOTLINE_SIP_TLS_KEY": str(key),
           "HOTLINE_SIP_SRTP": "optional", "HOTLINE_DATABASE_URL": f"sqlite:///{tmp / 'calls.db'}",
           "HOTLINE_OFFICE_PROFILE": str(closed_office(tmp)), "HOTLINE_LOG_LEVEL": "WARNING",
           "HOTLINE_DRAIN_GRACE_S": "10"}
    server = subprocess.Popen([sys.executable, "app.py", "sip"], cwd=ROOT, env=env)
    ways = {"UDP + RTP": SipCaller("127.0.0.1", port), "TLS + SRTP": SipCaller("127.0.0.1", tls_port, "tls", ca, True)}
    results: dict[str, list[Timing]] = {name: [] for name in ways}
    try:
        wait_ready(port)
        questions = [(p.name, trim_silence(load_audio(p))) for p in sorted((ROOT / "tests/data/speech").glob("*.*"))
                     if p.suffix in (".wav", ".ogg")]
        questions = [(n, q) for n, q in questions if q.duration_s <= MAX_QUESTION_S]
        for _ in range(args.rounds):
            for name, question in questions:
                for way, caller in ways.items():
                    timing = caller.call(question)
                    results[way].append(timing)
                    wait = "no answer" if timing.wait_ms is None else f"{timing.wait_ms:5.0f} ms"
                    print(f"{name:28} {way:11} set-up {timing.setup_ms:5.0f} ms, wait {wait}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"\nMeasured on {provenance()}\n")
    print("| way | calls | set-up p50 / p95 (ms) | answered | wait p50 / p95 / max (ms) |")
    print("|---|---|---|---|---|")
    for way, timings in results.items():
        setups = [t.setup_ms for t in timings]
        waits = [t.wait_ms for t in timings if t.wait_ms is not None]
        print(f"| {way} | {len(timings)} | {percentile(setups, 0.5):.0f} / {percentile(setups, 0.95):.0f} | "
              f"{len(waits)} | {percentile(waits, 0.5):.0f} / {percentile(waits, 0.95):.0f} / "
              f"{max(waits, default=float('nan')):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
