"""Scale-out on one box: one node with in-process recognition against two nodes sharing Redis and
PostgreSQL, with recognition in each node or on one or two recognition workers (``app.py asr-worker``).

Each configuration gets a fresh PostgreSQL database and a private Redis, then the record-mode callers of
``bench_traffic`` (Poisson arrivals, 1 to 3 recorded questions, the whole answer heard, a rating) for one
level; with two nodes every webhook goes to the next node, round robin, as a load balancer in front would
send them (the call's state moves through Redis). ``restart`` repeats the last configuration while, after
60 s, one recognition worker is killed (SIGKILL) and started again, and after 100 s one node gets SIGTERM
(it drains and exits) and is started again: the calls in progress must carry on.

First it measures the queue's own cost per question: a round trip through Redis to a worker whose
recogniser returns at once, for a 3 s question.

    python bench/bench_cluster.py [--target 15] [--minutes 2] [--configs one,two,two+1w,two+2w,restart]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from bench.bench_stream import TOKEN, clips, cpu_seconds, worker_pid  # noqa: E402
from bench.bench_traffic import Level, run_level  # noqa: E402
from bench.realtime import closed_office, percentile, provenance  # noqa: E402
from bench.traffic_record import record_caller  # noqa: E402
from tests.conftest import PG_ADMIN  # noqa: E402
from tests.servers import RedisServer, free_port  # noqa: E402
from tools.simulate import serve_media  # noqa: E402
from voice.core.domain import AudioClip, SpeechStatus, Transcript  # noqa: E402
from voice.stages.audio import write_wav  # noqa: E402

RECORD_CALL_S = 143.0  # mean record-mode call measured by bench_traffic (README), for the arrival rate


class Instant:
    name = "instant"

    def warm_up(self) -> None:
        pass

    def transcribe(self, audio: AudioClip, language: str | None = None) -> Transcript:
        return Transcript("Frage", "de", 1.0, audio.duration_s, SpeechStatus.OK)


def queue_overhead(redis_url: str, questions: int = 200) -> tuple[float, float]:
    """p50 and p95 ms of a question's round trip through the queue to a worker that answers at once."""
    from voice.runtime.cluster.asr_queue import QueuedTranscriber
    from voice.runtime.cluster.asr_worker import AsrWorker
    from voice.runtime.cluster.connection import connect

    stop = threading.Event()
    worker = AsrWorker(connect(redis_url, read_timeout_s=10), Instant(), name="overhead")
    runner = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    runner.start()
    node = QueuedTranscriber(connect(redis_url, read_timeout_s=10), deadline_s=10)
    clip = AudioClip((0.1 * np.sin(np.arange(48000) / 5.0)).astype(np.float32), 16000)
    times = []
    for _ in range(questions):
        started = time.perf_counter()
        node.transcribe(clip, "de")
        times.append((time.perf_counter() - started) * 1000)
    stop.set()
    runner.join(5)
    return percentile(times, 0.5), percentile(times, 0.95)


def fresh_database() -> str:
    name = f"hotline_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


class Cluster:
    def __init__(self, tmp: Path, nodes: int, workers: int, redis: RedisServer) -> None:
        self.tmp, self.redis = tmp, redis
        self.ports = [free_port() for _ in range(nodes)]
        self.database = fresh_database()
        self.nodes: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self.queue = workers > 0
        for i in range(nodes):
            self.nodes.append(self.start_node(i))
        for _ in range(workers):
            self.workers.append(self.start_worker())
        for port in self.ports:
            _wait_healthy(port)
        for worker in self.workers:
            _wait_ready(worker)

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    def env(self, port: int) -> dict[str, str]:
        env = {**os.environ, "HOTLINE_TWILIO_AUTH_TOKEN": TOKEN, "HOTLINE_TWILIO_MEDIA": "record",
               "HOTLINE_RECORDING_HOSTS": "http://127.0.0.1", "HOTLINE_PORT": str(port),
               "HOTLINE_DATABASE_URL": self.database, "HOTLINE_OFFICE_PROFILE": str(closed_office(self.tmp)),
               "HOTLINE_LOG_LEVEL": "WARNING", "HOTLINE_DRAIN_GRACE_S": "60",
               "HOTLINE_AUDIO_CACHE_DIR": str(self.tmp / f"audio-{port}")}
        if len(self.ports) > 1 or self.queue:
            env.update(HOTLINE_REDIS_URL=self.redis.url, HOTLINE_CALLER_HASH_KEY="bench-secret",
                       HOTLINE_PUBLIC_BASE_URL=self.urls[0], HOTLINE_NODE_URL=f"http://127.0.0.1:{port}")
        if self.queue:
            env["HOTLINE_ASR_QUEUE"] = "true"
        return env

    def start_node(self, i: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "app.py", "serve"], cwd=ROOT, env=self.env(self.ports[i]))

    def start_worker(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "HOTLINE_REDIS_URL": self.redis.url, "HOTLINE_LOG_LEVEL": "WARNING"}
        log = self.tmp / f"worker-{uuid.uuid4().hex[:6]}.log"
        with log.open("wb") as out:
            worker = subprocess.Popen([sys.executable, "app.py", "asr-worker"], cwd=ROOT, env=env, stdout=out)
        worker.log = log  # type: ignore[attr-defined]
        return worker

    def pids(self) -> list[int]:
        out = []
        for node in self.nodes:
            with contextlib.suppress(Exception):  # a node being restarted has no worker yet
                out.append(worker_pid(node.pid))
        return out + [w.pid for w in self.workers if w.poll() is None]

    def restart_later(self, events: list[str]) -> None:
        def run() -> None:
            time.sleep(60)
            victim = self.workers[0]
            began_w = time.monotonic()
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            self.workers[0] = self.start_worker()
            _wait_ready(self.workers[0])
            events.append(f"60 s: worker 1 killed (SIGKILL); a new one ready {time.monotonic() - began_w:.1f} s later")
            time.sleep(40)
            node = self.nodes[1]
            began = time.monotonic()
            node.send_signal(signal.SIGTERM)
            node.wait(timeout=700)
            events.append(f"100 s: node 2 SIGTERM, drained and exited in {time.monotonic() - began:.1f} s")
            self.nodes[1] = self.start_node(1)
            _wait_healthy(self.ports[1])
            events.append(f"node 2 back after {time.monotonic() - began:.1f} s")

        threading.Thread(target=run, daemon=True).start()

    def stop(self) -> None:
        for proc in self.nodes + self.workers:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.nodes + self.workers:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{self.database.rsplit("/", 1)[1]}" WITH (FORCE)'))
        admin.dispose()


def _wait_ready(worker: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while b"ready" not in Path(worker.log).read_bytes():  # type: ignore[attr-defined]
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("a recognition worker did not start")
        time.sleep(0.3)


def _wait_healthy(port: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"node on {port} did not start") from None
            time.sleep(0.5)


CONFIGS = {"one": (1, 0), "two": (2, 0), "two+1w": (2, 1), "two+2w": (2, 2), "restart": (2, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--target", type=int, default=15, help="calls in progress on average")
    parser.add_argument("--minutes", type=float, default=2.0, help="arrivals per configuration")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="which, in order: " + ", ".join(CONFIGS))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pool = clips(tmp)
        files = [write_wav(clip, tmp / "questions" / f"{name}.wav") for name, clip in pool]
        media_server, media = serve_media(files)
        redis = RedisServer().start()
        overhead = queue_overhead(redis.url)
        print(f"queue round trip: p50 {overhead[0]:.1f} ms, p95 {overhead[1]:.1f} ms", file=sys.stderr)
        try:
            for i, name in enumerate(args.configs.split(",")):
                nodes, workers = CONFIGS[name]
                print(f"{name}: {nodes} node(s), {workers} worker(s) ...", file=sys.stderr)
                cluster = Cluster(tmp, nodes, workers, redis)
                events: list[str] = []
                try:
                    urls = cluster.urls

                    def caller(sid: str, rng: random.Random, level: Level, urls: list[str] = urls) -> None:
                        record_caller(urls[0], TOKEN, sid, media, files, rng, level, urls if len(urls) > 1 else None)

                    pids = cluster.pids()
                    cpu0 = sum(cpu_seconds(p) for p in pids)
                    if name == "restart":
                        cluster.restart_later(events)
                    began = time.monotonic()
                    level, *_ = run_level(urls[0], args.target, args.minutes, RECORD_CALL_S, caller,
                                          worker_pid(cluster.nodes[0].pid), seed=11 + i)
                    cpu = (sum(cpu_seconds(p) for p in cluster.pids() if p in pids) - cpu0) / (time.monotonic() - began)
                    rows.append((name, nodes, workers, level, cpu, events))
                finally:
                    cluster.stop()
        finally:
            media_server.shutdown()
            redis.stop()
    print(f"\nMeasured on {provenance()}; record mode, N={args.target} on average, {args.minutes:g} min of arrivals\n")
    print(f"Queue round trip per question (Redis Stream to a worker that answers at once, 3 s of audio): "
          f"p50 {overhead[0]:.1f} ms, p95 {overhead[1]:.1f} ms\n")
    print("| configuration | nodes | workers | calls | refused | failed | questions | wait p50 / p95 / max (ms) "
          "| CPU (cores) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, nodes, workers, level, cpu, _ in rows:
        w = level.waits_ms
        waits = f"{percentile(w, 0.5):.0f} / {percentile(w, 0.95):.0f} / {max(w):.0f}" if w else "-"
        print(f"| {name} | {nodes} | {workers} | {level.started} | {level.refused} | {len(level.failed)} | "
              f"{len(w)} | {waits} | {cpu:.2f} |")
    for name, *_, level, _, events in rows:
        for event in events:
            print(f"- {name}: {event}")
        for failure in level.failed[:5]:
            print(f"- {name}: failed {failure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
