"""Real-time latency over Twilio Media Streams, measured with the load client on loopback.

Starts the hotline (``app.py serve``: gunicorn, real Whisper, retrieval, eSpeak NG, SQLite) in stream
mode, then runs 1, 4 and 8 simultaneous simulated calls. Each caller talks over the greeting (barge-in),
asks one recorded question in real time, listens to the start of the reply, rates it by DTMF and is
said goodbye. Measured per question:

- last voiced frame sent by the caller -> first reply frame received (the caller's wait);
- its parts inside the hotline: endpointing wait, recognition still running after the endpoint,
  retrieval, and the rest up to the first frame (synthesis or cache, playout);
- voice onset (first window the VAD scores as speech) -> ``clear`` received (barge-in);
- CPU and peak memory of the server process.

    python bench/bench_stream.py [--levels 1,4,8] [--turns 12]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.realtime import closed_office, percentile, provenance  # noqa: E402
from tools.load_client import StreamCaller, trim_silence  # noqa: E402
from tools.sipp import free_port  # noqa: E402
from voice.core.domain import AudioClip  # noqa: E402
from voice.stages.audio import load_audio  # noqa: E402

TOKEN = "bench-stream-token"
SPOKEN_QUESTIONS = {  # read by eSpeak NG: questions the knowledge base answers
    "de": "Wie kann ich meine Aufenthaltserlaubnis verlängern?",
    "en": "How can I apply for a Blue Card?",
    "tr": "Vatandaşlık için ne zaman başvurabilirim?",
}


@dataclass
class Turn:
    sid: str
    clip: str
    wait_ms: float  # last voiced frame -> first reply frame
    barge_in_ms: float | None


def voice_onset_s(clip: AudioClip) -> float:
    """Where speech starts in ``clip``: the first 32 ms window the VAD scores as speech (recordings may
    begin with a breath or noise), so barge-in is timed from the voice, not from the file's start."""
    from voice.runtime.stream.vad import SileroModel

    detector = SileroModel.shared().detector(8000)
    for i, p in enumerate(detector.push(clip.samples)):
        if p >= 0.5:
            return i * detector.chunk_ms / 1000.0
    return 0.0


def clips(tmp: Path) -> list[tuple[str, AudioClip]]:
    out = []
    for path in sorted((ROOT / "tests/data/speech").glob("*.*")):
        if path.suffix in (".wav", ".ogg"):
            out.append((path.name, trim_silence(load_audio(path))))
    from voice.stages.tts.espeak import EspeakSynthesizer

    tts = EspeakSynthesizer()
    for lang, text in SPOKEN_QUESTIONS.items():
        speech = tts.synthesize(text, lang)
        out.append((f"espeak-{lang}", trim_silence(speech.audio)))
    return out


def start_server(tmp: Path, port: int, media: str = "stream") -> subprocess.Popen[bytes]:
    """``app.py serve`` on ``port`` with an office outside its hours; ``media`` "record" serves the
    record-and-answer webhooks, with recordings fetched from local addresses (the benchmark plays Twilio)."""
    env = {
        **os.environ,
        "HOTLINE_TWILIO_AUTH_TOKEN": TOKEN,
        "HOTLINE_TWILIO_MEDIA": media,
        "HOTLINE_RECORDING_HOSTS": "http://127.0.0.1",
        "HOTLINE_PORT": str(port),
        "HOTLINE_DATABASE_URL": f"sqlite:///{tmp / 'calls.db'}",
        "HOTLINE_OFFICE_PROFILE": str(closed_office(tmp)),
        "HOTLINE_LOG_LEVEL": "WARNING",
        "HOTLINE_DRAIN_GRACE_S": "10",
    }
    server = subprocess.Popen([sys.executable, "app.py", "serve"], cwd=ROOT, env=env)
    deadline = time.monotonic() + 300
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
            return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the hotline did not start") from None
            time.sleep(0.5)


def worker_pid(master: int) -> int:
    """gunicorn's worker process (the master only supervises it)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                return int(entry.name)
    return master


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> tuple[float, float]:
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def one_call(base: str, sid: str, name: str, clip: AudioClip, turns: list[Turn], errors: list[str]) -> None:
    caller = StreamCaller(base, TOKEN, sid)
    try:
        caller.dial()
        caller.wait_for_media(0.0, timeout=30)
        time.sleep(1.0)  # the greeting plays for a second, then the caller talks over it
        last_voiced = caller.say(clip)
        first = caller.wait_for_media(last_voiced, timeout=30)
        onset = caller.speech_started_at
        if onset is not None:
            onset += voice_onset_s(clip)
        barge = next((t - onset for t in caller.received.clears if onset and t > onset), None)
        turns.append(Turn(sid, name, (first - last_voiced) * 1000, barge * 1000 if barge is not None else None))
        time.sleep(1.5)
        caller.press("#")
        time.sleep(1.0)
        caller.press("5")
        caller.wait_closed(timeout=60)
    except Exception as exc:  # reported in the summary; one failing call does not stop the benchmark
        errors.append(f"{sid} ({name}): {exc}")
    finally:
        caller.close()


def run_level(base: str, calls: int, turns_wanted: int, pool: list[tuple[str, AudioClip]], pid: int, tag: str):
    rounds = max(1, -(-turns_wanted // calls))
    turns: list[Turn] = []
    errors: list[str] = []
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    for r in range(rounds):
        threads = []
        for c in range(calls):
            name, clip = pool[(r * calls + c) % len(pool)]
            sid = f"CA{tag}{calls:02d}r{r:02d}c{c:02d}"
            thread = threading.Thread(target=one_call, args=(base, sid, name, clip, turns, errors))
            threads.append(thread)
            thread.start()
            time.sleep(random.uniform(0.0, 0.6))  # callers do not arrive in lockstep
        for thread in threads:
            thread.join()
        print(f"  {calls} simultaneous: round {r + 1}/{rounds} done ({len(turns)} questions)", file=sys.stderr)
    cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    return turns, errors, cpu


def breakdown(db: Path, sids: list[str]) -> dict[str, list[float]]:
    con = sqlite3.connect(db)
    marks = ",".join("?" * len(sids))
    rows = con.execute(
        f"SELECT t.endpoint_ms, t.asr_ms, t.retrieval_ms, t.first_audio_ms FROM turns t JOIN calls c "
        f"ON c.id = t.call_id WHERE c.external_id IN ({marks}) AND t.turn = 1",
        sids,
    ).fetchall()
    con.close()
    out: dict[str, list[float]] = {"endpoint": [], "asr": [], "retrieval": [], "rest": []}
    for endpoint, asr, retrieval, first_audio in rows:
        if None in (endpoint, asr, retrieval, first_audio):
            continue
        out["endpoint"].append(endpoint)
        out["asr"].append(asr)
        out["retrieval"].append(retrieval)
        out["rest"].append(max(0.0, first_audio - asr - retrieval))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--levels", default="1,4,8", help="simultaneous calls per level (default 1,4,8)")
    parser.add_argument("--turns", type=int, default=12, help="questions per level (default 12)")
    args = parser.parse_args()
    random.seed(7)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pool = clips(tmp)
        port = free_port(socket.SOCK_STREAM)
        server = start_server(tmp, port)
        base = f"http://127.0.0.1:{port}"
        try:
            pid = worker_pid(server.pid)
            print("warm-up call (fills the prompt cache) ...", file=sys.stderr)
            run_level(base, 1, 1, pool[:1], pid, "warm")
            rows = []
            for level in [int(x) for x in args.levels.split(",")]:
                turns, errors, cpu = run_level(base, level, args.turns, pool, pid, "b")
                parts = breakdown(tmp / "calls.db", [t.sid for t in turns])
                rss, peak = memory_mb(pid)
                waits = [t.wait_ms for t in turns]
                barges = [t.barge_in_ms for t in turns if t.barge_in_ms is not None]
                rows.append((level, turns, errors, cpu, peak, waits, barges, parts))
        finally:
            server.terminate()
            server.wait(timeout=30)
    print()
    print(f"Measured on {provenance()}\n")
    print("| calls | questions | caller's wait p50 / p95 (ms) | endpointing p50 | ASR after endpoint p50 | "
          "retrieval p50 | synthesis/cache + playout p50 | barge-in clear p50 / p95 (ms) | server CPU (cores) | "
          "peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for level, turns, errors, cpu, peak, waits, barges, parts in rows:
        p50 = {k: percentile(v, 0.5) for k, v in parts.items()}
        print(
            f"| {level} | {len(turns)}{f' ({len(errors)} failed)' if errors else ''} | "
            f"{percentile(waits, 0.5):.0f} / {percentile(waits, 0.95):.0f} | {p50['endpoint']:.0f} | "
            f"{p50['asr']:.0f} | {p50['retrieval']:.0f} | {p50['rest']:.0f} | "
            f"{percentile(barges, 0.5):.0f} / {percentile(barges, 0.95):.0f} | {cpu:.2f} | {peak:.0f} |"
        )
    for level, _, errors, *_ in rows:
        for error in errors:
            print(f"level {level}: {error}", file=sys.stderr)
    print(f"\nmachine: {os.cpu_count()} CPUs; clips: {', '.join(n for n, _ in pool)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
