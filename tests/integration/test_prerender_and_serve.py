"""`prerender` fills the audio cache; `serve` starts a real server that answers /healthz."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.servers import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_prerender_renders_once_then_skips(tmp_path):
    env = {**os.environ, "HOTLINE_AUDIO_CACHE_DIR": str(tmp_path / "audio")}
    cmd = [sys.executable, "app.py", "prerender"]
    first = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=True)
    total, cached, new = (int(x) for x in _counts(first.stdout))
    # identical texts (e.g. the same legal basis on several answers) are rendered once, then cached
    assert new > 2000 and cached + new == total and cached < total / 20
    assert "prerender" in first.stderr  # the progress bar
    files = list((tmp_path / "audio").rglob("*.wav"))
    assert len(files) == new
    second = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=True)
    assert _counts(second.stdout) == [str(total), str(total), "0"]


def _counts(line: str) -> list[str]:
    # "prerendered N clips: C already cached, R new"
    words = line.replace(":", " ").replace(",", " ").split()
    return [words[1], words[3], words[6]]


def test_serve_starts_and_answers_healthz():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "app.py", "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    body = json.loads(response.read())
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.5)
        assert body["status"] == "ok" and body["asr"] == "faster-whisper" and body["tts"] == "espeak-ng"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
