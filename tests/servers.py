"""Starting the real server (``app.py serve``) for tests that call it over the network."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.realtime import closed_office
from tools.sipp import free_port as udp_or_tcp_port

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port free now and never handed out before in this run (``tools.sipp.free_port``)."""
    return udp_or_tcp_port(socket.SOCK_STREAM)


def stream_mode_env(tmp_path: Path, port: int, token: str) -> dict[str, str]:
    """The environment of a hotline in Media Streams mode for a test: its own SQLite file and audio cache, an
    office with no opening hours (hand-overs never transfer), and recognition doubts switched off (the
    transport or the server is under test; confirmations have their own tests)."""
    return {
        **os.environ,
        "HOTLINE_TWILIO_AUTH_TOKEN": token,
        "HOTLINE_TWILIO_MEDIA": "stream",
        "HOTLINE_PORT": str(port),
        "HOTLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'calls.db'}",
        "HOTLINE_AUDIO_CACHE_DIR": str(tmp_path / "audio"),
        "HOTLINE_OFFICE_PROFILE": str(closed_office(tmp_path)),
        "HOTLINE_ASR_UNSURE_LOGPROB": "-5",
        "HOTLINE_ASR_GARBLED_LOGPROB": "-9",
    }


def start_hotline(env: dict[str, str], port: int, timeout: float = 300.0) -> subprocess.Popen[str]:
    """``app.py serve`` with ``env``, returned once ``/healthz`` answers (models loaded).

    The server's log goes to a file (``server.log_path``), not a pipe nobody reads: a full pipe would stop
    a server that logs a lot (an abuse test) in the middle of a write.
    """
    log = tempfile.NamedTemporaryFile(prefix="hotline-", suffix=".log", delete=False)  # noqa: SIM115
    env = {"HOTLINE_DRAIN_GRACE_S": "5", **env}  # terminate() drains: a test's leftover call must not hold it
    server = subprocess.Popen([sys.executable, "app.py", "serve"], cwd=ROOT, env=env, stderr=log, text=True)
    server.log_path = Path(log.name)  # type: ignore[attr-defined]
    log.close()
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
                return server
            except OSError:
                assert server.poll() is None, server_log(server)
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.5)
    except BaseException:
        server.terminate()
        server.wait(timeout=30)
        raise


def server_log(server: subprocess.Popen[str], tail: int = 6000) -> str:
    return Path(server.log_path).read_text(errors="replace")[-tail:]  # type: ignore[attr-defined]


class RedisServer:
    """A private ``redis-server`` (Debian's, on this machine and CI's) on a free port, nothing kept on disk;
    ``stop`` and ``start`` again on the same port play a Redis outage."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
