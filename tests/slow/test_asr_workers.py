"""Recognition workers (``app.py asr-worker``) on a real Redis with real Whisper, as separate processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from tests.servers import ROOT
from voice.runtime.cluster.asr_queue import GROUP, QueuedTranscriber, stream_names
from voice.runtime.cluster.connection import connect
from voice.runtime.scheduler import Priority
from voice.stages.audio import load_audio

pytestmark = pytest.mark.slow
CLIP = ROOT / "tests/data/speech/leopard_test_en.wav"


def _worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HOTLINE_REDIS_URL": url, "HOTLINE_DATA_DIR": str(ROOT / "var")}
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "app.py", "asr-worker"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def _wait_ready(log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while b"ready" not in log.read_bytes():
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.2)


def test_a_question_held_by_a_killed_worker_is_answered_by_another_within_the_deadline(redis_server, tmp_path):
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    workers = [_worker(redis_server.url, log) for log in logs]
    try:
        for log in logs:
            _wait_ready(log)
        client = redis.Redis.from_url(redis_server.url)
        questions = stream_names()[Priority.QUESTION]
        node = QueuedTranscriber(connect(redis_server.url, read_timeout_s=30), deadline_s=25)
        audio = load_audio(CLIP)
        result: dict[str, object] = {}
        started = time.monotonic()
        asker = threading.Thread(target=lambda: result.update(t=node.transcribe(audio, None)))
        asker.start()
        holder = None
        while holder is None and time.monotonic() - started < 20:
            pending = client.xpending_range(questions, GROUP, "-", "+", 10)
            holder = pending[0]["consumer"].decode() if pending else None
            time.sleep(0.01)
        assert holder is not None, "no worker took the question"
        victim = next(w for w in workers if holder.endswith(f"-{w.pid}"))
        os.kill(victim.pid, signal.SIGKILL)  # it holds the question, unfinished
        asker.join(timeout=60)
        elapsed = time.monotonic() - started
        transcript = result["t"]
        assert "apostle" in transcript.text.lower() and "gospel" in transcript.text.lower(), transcript
        assert elapsed < 25, f"answered after {elapsed:.1f} s"
        survivor = next(w for w in workers if w is not victim)
        assert survivor.poll() is None
        survivor_log = logs[workers.index(survivor)].read_text(errors="replace")
        assert "claimed from a worker that did not finish it" in survivor_log
        assert client.xlen(questions) == 0  # acknowledged and removed
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(timeout=60)
