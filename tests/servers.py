"""Starting the real server (``app.py serve``) for tests that call it over the network."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_hotline(env: dict[str, str], port: int, timeout: float = 300.0) -> subprocess.Popen[str]:
    """``app.py serve`` with ``env``, returned once ``/healthz`` answers (models loaded)."""
    server = subprocess.Popen([sys.executable, "app.py", "serve"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
                return server
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.5)
    except BaseException:
        server.terminate()
        server.wait(timeout=30)
        raise
