"""Starting the real server (``app.py serve``) for tests that call it over the network."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_hotline(env: dict[str, str], port: int, timeout: float = 300.0) -> subprocess.Popen[str]:
    """``app.py serve`` with ``env``, returned once ``/healthz`` answers (models loaded).

    The server's log goes to a file (``server.log_path``), not a pipe nobody reads: a full pipe would stop
    a server that logs a lot (an abuse test) in the middle of a write.
    """
    log = tempfile.NamedTemporaryFile(prefix="hotline-", suffix=".log", delete=False)  # noqa: SIM115
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
