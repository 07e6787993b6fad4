"""Realistic traffic over Twilio Media Streams: callers arrive at random, so that on average N are in progress.

Starts the hotline (``app.py serve``: gunicorn, real Whisper, retrieval, eSpeak NG, SQLite) in stream
mode and, for each level N, lets callers arrive as a Poisson process at the rate that keeps N calls in
progress on average (Little's law: rate = N / mean call length, the mean measured on the level before
or estimated for the first). Each caller, in real time:

- listens to the greeting (one in five talks over it);
- asks 1 to 3 recorded questions (the test recordings and eSpeak NG questions of ``bench_stream``);
- listens to each answer in full, or barges in after a few seconds (about one in five);
- presses ``#`` for the rating after the last answer and rates 1 to 5.

Reported per level: calls started, refused (all lines busy), questions, the caller's wait (last voiced
frame to first reply frame) p50 / p95 / max, the server's CPU and peak memory, and the recogniser's
utilisation (recognition time over wall time, from ``/healthz``), and why calls were refused
(``wait``: the queue of the moment; ``load``: the predicted wait of the calls in progress).

``--mode record`` runs the same traffic through the record-and-answer webhooks instead
(``traffic_record.py``): the caller's wait there includes Twilio's 3 s silence timeout.

    python bench/bench_traffic.py [--levels 2,5,10,20,30] [--minutes 3] [--mode stream|record]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_stream import TOKEN, clips, cpu_seconds, memory_mb, start_server, worker_pid  # noqa: E402
from bench.realtime import percentile, provenance  # noqa: E402
from bench.traffic_record import record_caller  # noqa: E402
from tools.load_client import StreamCaller  # noqa: E402
from tools.simulate import serve_media  # noqa: E402
from tools.sipp import free_port  # noqa: E402
from voice.core.domain import AudioClip  # noqa: E402
from voice.stages.audio import write_wav  # noqa: E402

FIRST_GUESS_CALL_S = 90.0  # greeting, two questions and answers; replaced by the measured mean


@dataclass
class Level:
    target: int
    started: int = 0
    refused: int = 0
    failed: list[str] = field(default_factory=list)
    waits_ms: list[float] = field(default_factory=list)
    durations_s: list[float] = field(default_factory=list)
    in_progress: list[int] = field(default_factory=list)  # sampled every second
    reasons: dict[str, int] = field(default_factory=dict)  # refusals by the runtime's reason
    lock: threading.Lock = field(default_factory=threading.Lock)
    live: int = 0


def caller(base: str, sid: str, pool: list[tuple[str, AudioClip]], rng: random.Random, level: Level) -> None:
    call = StreamCaller(base, TOKEN, sid)
    began = time.monotonic()
    admitted = False
    try:
        try:
            call.dial()
        except RuntimeError:  # the hotline answered with the busy message instead of a stream
            with level.lock:
                level.refused += 1
            return
        with level.lock:
            level.live += 1
        admitted = True
        call.wait_for_media(0.0, timeout=30)
        if rng.random() < 0.2:
            time.sleep(rng.uniform(1.0, 4.0))  # talks over the greeting
        else:
            call.wait_quiet(0.8, timeout=90)
        questions = rng.choice((1, 2, 2, 3))
        to_rating = True  # "#" still to press after the last answer
        for n in range(questions):
            _, clip = rng.choice(pool)
            last_voiced = call.say(clip)
            first = call.wait_for_media(last_voiced, timeout=60)
            with level.lock:
                level.waits_ms.append((first - last_voiced) * 1000)
            if rng.random() < 0.2:
                time.sleep(rng.uniform(2.0, 6.0))  # barges in: the next question, or the keypad
                if n == questions - 1:
                    call.press("#")
                    to_rating = False
            else:
                call.wait_quiet(0.8, timeout=150)  # the whole answer, and "another question?"
        if to_rating:
            call.press("#")  # to the rating (a digit pressed while the hotline listens for a question does not rate)
        call.wait_quiet(0.8, timeout=60)
        call.press(str(rng.randint(1, 5)))
        call.wait_closed(timeout=60)
        with level.lock:
            level.durations_s.append(time.monotonic() - began)
    except Exception as exc:  # reported in the summary; one failed call does not stop the benchmark
        with level.lock:
            level.failed.append(f"{sid}: {exc}")
    finally:
        if admitted:
            with level.lock:
                level.live -= 1
        call.close()


def health(base: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
        data: dict[str, object] = json.loads(response.read())
        return data


def run_level(base: str, target: int, minutes: float, mean_call_s: float, start_caller, pid: int, seed: int) -> tuple:
    rng = random.Random(seed)
    level = Level(target)
    rate = target / mean_call_s  # arrivals per second for ``target`` calls in progress on average
    before = health(base)
    cpu0, t0, busy0 = cpu_seconds(pid), time.monotonic(), float(before["recognition_busy_s"])  # type: ignore[arg-type]
    threads: list[threading.Thread] = []
    next_arrival = t0
    end = t0 + minutes * 60
    last_sample = t0
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_arrival:
            sid = f"CAt{target:02d}n{level.started:04d}"
            thread = threading.Thread(target=start_caller, args=(sid, random.Random(rng.random()), level),
                                      daemon=True)
            thread.start()
            threads.append(thread)
            level.started += 1
            next_arrival += rng.expovariate(rate)
        if now - last_sample >= 1.0:
            with level.lock:
                level.in_progress.append(level.live)
            last_sample = now
        time.sleep(0.01)
    print(f"  N={target}: {level.started} calls started, waiting for them to finish ...", file=sys.stderr)
    for thread in threads:
        thread.join(timeout=300)
    wall = time.monotonic() - t0
    cpu = (cpu_seconds(pid) - cpu0) / wall
    after = health(base)
    busy = (float(after["recognition_busy_s"]) - busy0) / wall  # type: ignore[arg-type]
    refused_before: dict[str, int] = before["refused"]  # type: ignore[assignment]
    for reason, count in after["refused"].items():  # type: ignore[attr-defined]
        if count - refused_before.get(reason, 0):
            level.reasons[reason] = count - refused_before.get(reason, 0)
    return level, cpu, busy, memory_mb(pid)[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--levels", default="2,5,10,20,30", help="calls in progress on average, per level")
    parser.add_argument("--minutes", type=float, default=3.0, help="arrivals per level (default 3 minutes)")
    parser.add_argument("--mode", choices=("stream", "record"), default="stream",
                        help="Media Streams (default) or the record-and-answer webhooks")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pool = clips(tmp)
        port = free_port(socket.SOCK_STREAM)
        server = start_server(tmp, port, args.mode)
        base = f"http://127.0.0.1:{port}"
        files = [write_wav(clip, tmp / "questions" / f"{name}.wav") for name, clip in pool]
        media_server, media = serve_media(files)

        def start_caller(sid: str, rng: random.Random, level: Level) -> None:
            if args.mode == "record":
                record_caller(base, TOKEN, sid, media, files, rng, level)
            else:
                caller(base, sid, pool, rng, level)

        rows = []
        try:
            pid = worker_pid(server.pid)
            mean_call_s = FIRST_GUESS_CALL_S
            for i, target in enumerate(int(x) for x in args.levels.split(",")):
                level, cpu, busy, peak = run_level(base, target, args.minutes, mean_call_s, start_caller, pid,
                                                   seed=7 + i)
                if level.durations_s:
                    mean_call_s = sum(level.durations_s) / len(level.durations_s)
                rows.append((level, cpu, busy, peak))
                print(f"  N={target} done: {len(level.waits_ms)} questions, {level.refused} refused", file=sys.stderr)
        finally:
            media_server.shutdown()
            server.terminate()
            server.wait(timeout=60)
    print(f"\nMeasured on {provenance()}, {args.mode} mode\n")
    print("| N (target) | in progress, mean / max | calls | refused (by reason) | failed | questions | "
          "caller's wait p50 / p95 / max (ms) | server CPU (cores) | recogniser busy | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for level, cpu, busy, peak in rows:
        w = level.waits_ms
        live = level.in_progress or [0]
        reasons = f" ({', '.join(f'{k} {v}' for k, v in sorted(level.reasons.items()))})" if level.reasons else ""
        print(
            f"| {level.target} | {sum(live) / len(live):.1f} / {max(live)} | {level.started} | "
            f"{level.refused}{reasons} | "
            f"{len(level.failed)} | {len(w)} | {percentile(w, 0.5):.0f} / {percentile(w, 0.95):.0f} / "
            f"{max(w) if w else float('nan'):.0f} | {cpu:.2f} | {busy:.0%} | {peak:.0f} |"
        )
    for level, *_ in rows:
        for failure in level.failed[:10]:
            print(f"N={level.target}: {failure}", file=sys.stderr)
    durations = [d for level, *_ in rows for d in level.durations_s]
    if durations:
        print(f"\ncall length: mean {sum(durations) / len(durations):.0f} s, median {percentile(durations, 0.5):.0f} s "
              f"over {len(durations)} completed calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
