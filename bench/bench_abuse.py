"""What callers experience while the web server is under heavy or hostile traffic, measured on loopback.

Starts the hotline (``app.py serve``: gunicorn, real engines, SQLite seeded with 300 calls for the
dashboard) in record-and-answer mode and runs, one after the other:

- ``dashboard N``: N logged-in QA users (threads) reloading the calls page as fast as they can, while a
  caller presses keys (signed ``/twilio/digits`` webhooks, a keypad menu step each) and ``/healthz`` is
  polled;
- ``login flood``: 100 connections trying random names and passwords, the same caller meanwhile;
- memory of the server worker when idle before, and 5 s after the load.

Run once with the dashboard's concurrency limit (``HOTLINE_DASHBOARD_MAX_CONCURRENT``, default 4) and once
without it (``0``) in the same invocation, so the two are compared on the same machine at the same time.

    python bench/bench_abuse.py [--users 100,200] [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from multiprocessing import Process, Queue
from pathlib import Path

import requests
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_stream import memory_mb, worker_pid  # noqa: E402
from bench.realtime import percentile, provenance  # noqa: E402
from tools.sipp import free_port  # noqa: E402

TOKEN = "bench-abuse-token"


@dataclass
class Probe:
    """Latencies (s) of one kind of request, and its failures."""

    times: list[float] = field(default_factory=list)
    failures: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def cell(self) -> str:
        """p50 / p99 / max in ms, how many were measured and how many failed."""
        if not self.times:
            return f"— (0, {self.failures} failed)"
        p50, p99, top = (percentile(self.times, q) * 1000 for q in (0.5, 0.99, 1.0))
        return f"{p50:.0f} / {p99:.0f} / {top:.0f} ({len(self.times)}, {self.failures} failed)"


def seed(folder: Path) -> None:
    """A call store with 300 calls and a viewer account, as the dashboard would show them."""
    from tests.seed_calls import seed_calls
    from voice.storage.accounts import Accounts
    from voice.storage.store import SqlCallStore

    store = SqlCallStore(f"sqlite:///{folder / 'calls.db'}", folder / "spool.jsonl", b"bench")
    store.warm_up()
    seed_calls(store.engine, ROOT / "prompts", folder / "data", 300)
    Accounts(store.engine).add("viewer", "viewer-password", "viewer")


def start_server(folder: Path, port: int, max_concurrent: int) -> subprocess.Popen[str]:
    from tests.servers import start_hotline

    env = {
        **os.environ,
        "HOTLINE_TWILIO_AUTH_TOKEN": TOKEN,
        "HOTLINE_PORT": str(port),
        "HOTLINE_DATABASE_URL": f"sqlite:///{folder / 'calls.db'}",
        "HOTLINE_AUDIO_CACHE_DIR": str(folder / "audio"),
        "HOTLINE_DASHBOARD_SECURE_COOKIES": "false",
        "HOTLINE_DASHBOARD_MAX_CONCURRENT": str(max_concurrent),
        "HOTLINE_LOG_LEVEL": "WARNING",
    }
    return start_hotline(env, port)


def signed_post(base: str, path: str, **form: str) -> requests.Response:
    url = f"{base}{path}"
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    return requests.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=30)


def caller_keys(base: str, stop: threading.Event, probe: Probe) -> None:
    """One caller pressing keys: a new call, the language menu (*), German (1), and again."""
    n = 0
    while not stop.is_set():
        n += 1
        sid = f"CAabuse{n:06d}"
        try:
            signed_post(base, "/twilio/voice", CallSid=sid, From="+4930111")
            for key in ("*", "1"):
                started = time.monotonic()
                reply = signed_post(base, "/twilio/digits", CallSid=sid, Digits=key)
                probe.times.append(time.monotonic() - started)
                probe.failures += reply.status_code != 200
                stop.wait(0.3)
            signed_post(base, "/twilio/status", CallSid=sid, CallStatus="completed")
        except requests.RequestException:
            probe.failures += 1


def health(base: str, stop: threading.Event, probe: Probe) -> None:
    while not stop.is_set():
        started = time.monotonic()
        try:
            requests.get(f"{base}/healthz", timeout=10).raise_for_status()
            probe.times.append(time.monotonic() - started)
        except requests.RequestException:
            probe.failures += 1
        stop.wait(0.2)


def dashboard_user(base: str, stop: threading.Event, probe: Probe) -> None:
    with requests.Session() as http:
        try:
            page = http.get(f"{base}/dashboard/login", timeout=30).text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
            http.post(f"{base}/dashboard/login", timeout=30, data={
                "name": "viewer", "password": "viewer-password", "csrf_token": csrf.group(1) if csrf else ""})
        except requests.RequestException:
            probe.failures += 1
        while not stop.is_set():
            started = time.monotonic()
            try:
                reply = http.get(f"{base}/dashboard/calls", timeout=30)
                probe.statuses[reply.status_code] = probe.statuses.get(reply.status_code, 0) + 1
                probe.times.append(time.monotonic() - started)
                if reply.status_code == 503:
                    stop.wait(float(reply.headers.get("Retry-After", "1")))
            except requests.RequestException:
                probe.failures += 1


def login_flooder(base: str, stop: threading.Event, probe: Probe) -> None:
    rng = random.Random()
    with requests.Session() as http:
        while not stop.is_set():
            started = time.monotonic()
            try:
                page = http.get(f"{base}/dashboard/login", timeout=30).text
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
                reply = http.post(f"{base}/dashboard/login", timeout=30, data={
                    "name": f"user{rng.randrange(10**9)}", "password": "guess",
                    "csrf_token": csrf.group(1) if csrf else ""})
                probe.statuses[reply.status_code] = probe.statuses.get(reply.status_code, 0) + 1
                probe.times.append(time.monotonic() - started)
            except requests.RequestException:
                probe.failures += 1


def _crowd(base: str, load: str, count: int, seconds: float, results: Queue) -> None:
    """The load, in its own process: its threads must not starve the probes of the interpreter."""
    stop = threading.Event()
    crowd = Probe()
    target = dashboard_user if load == "dashboard" else login_flooder
    threads = [threading.Thread(target=target, args=(base, stop, crowd), daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=40)
    results.put((len(crowd.times), crowd.failures, crowd.statuses))


def run(base: str, load: str, count: int, seconds: float) -> tuple[Probe, Probe, int, dict[int, int]]:
    """``count`` users of ``load`` for ``seconds`` (another process), a caller and /healthz probes (here)."""
    results: Queue = Queue()
    crowd = Process(target=_crowd, args=(base, load, count, seconds, results))
    crowd.start()
    stop = threading.Event()
    keys, healthz = Probe(), Probe()
    probes = [threading.Thread(target=caller_keys, args=(base, stop, keys), daemon=True),
              threading.Thread(target=health, args=(base, stop, healthz), daemon=True)]
    time.sleep(1.0)  # the crowd is under way
    for thread in probes:
        thread.start()
    done, _failures, statuses = results.get(timeout=seconds + 120)
    stop.set()
    for thread in probes:
        thread.join(timeout=40)
    crowd.join(timeout=30)
    return keys, healthz, done, statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", default="100,200", help="dashboard users per run (default 100,200)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each load (default 20)")
    args = parser.parse_args()
    rows: list[tuple[int, str, float, float, Probe | None, Probe | None]] = []
    for limit in (4, 0):
        with tempfile.TemporaryDirectory() as tmp_name:
            folder = Path(tmp_name)
            print(f"seeding the call store and starting the server (dashboard limit {limit or 'off'}) ...",
                  file=sys.stderr)
            seed(folder)
            port = free_port()
            server = start_server(folder, port, limit)
            base = f"http://127.0.0.1:{port}"
            try:
                pid = worker_pid(server.pid)
                run(base, "dashboard", 2, 4.0)  # warm-up: templates, prompt audio
                idle, _ = memory_mb(pid)
                loads = [("dashboard", int(n)) for n in args.users.split(",")] + [("login flood", 100)]
                for load, count in loads:
                    print(f"  {load} × {count} for {args.seconds:.0f} s ...", file=sys.stderr)
                    keys, healthz, done, statuses = run(base, load, count, args.seconds)
                    served = done - statuses.get(503, 0)  # answered (a page, or "wrong password"), not "busy"
                    rows.append((limit, f"{load} × {count}", done / args.seconds, served / args.seconds, keys, healthz))
                time.sleep(5.0)
                after, peak = memory_mb(pid)
                memory = f"worker memory: {idle:.0f} MB idle before, {after:.0f} MB 5 s after, peak {peak:.0f} MB"
                rows.append((limit, memory, 0.0, 0.0, None, None))
            finally:
                server.terminate()
                server.wait(timeout=30)
    print(f"Measured on {provenance()}\n")
    print("| dashboard limit | load | its requests/s (served) | keypad webhook p50 / p99 / max ms (n) "
          "| /healthz p50 / p99 / max ms (n) |")
    print("|---|---|---|---|---|")
    for limit, load, rps, served_rate, key_probe, health_probe in rows:
        if key_probe is None or health_probe is None:
            print(f"| {limit or 'off'} | {load} | | | |")
            continue
        label = limit or "off"
        print(f"| {label} | {load} | {rps:.0f} ({served_rate:.0f}) | {key_probe.cell()} | {health_probe.cell()} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
