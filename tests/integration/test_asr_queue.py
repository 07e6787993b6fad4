"""The recognition queue on a real Redis: priorities, deadlines, failures (workers in this process, with a
fake recogniser; real worker processes with Whisper are in tests/slow/test_asr_workers.py)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from tests.fakes import FakeTranscriber, said
from voice.core.domain import AudioClip
from voice.runtime.cluster.asr_queue import QueuedTranscriber, RecognitionTimeout
from voice.runtime.cluster.asr_worker import AsrWorker
from voice.runtime.cluster.connection import connect
from voice.runtime.scheduler import Priority

pytestmark = pytest.mark.integration


def _clip(seconds: float = 0.5) -> AudioClip:
    return AudioClip((0.1 * np.sin(np.arange(int(16000 * seconds)) / 5.0)).astype(np.float32), 16000)


class Failing:
    name = "failing"

    def warm_up(self) -> None:
        pass

    def transcribe(self, audio: AudioClip, language: str | None = None):
        raise RuntimeError("model crashed")


def test_finished_questions_are_served_before_early_recognition(redis_server):
    client = connect(redis_server.url, read_timeout_s=10)
    fake = FakeTranscriber(said("erste Frage"), said("zweite"))
    worker = AsrWorker(client, fake, name="w")
    worker.ensure_groups()
    node = QueuedTranscriber(connect(redis_server.url, read_timeout_s=10), deadline_s=8)
    results: dict[str, str] = {}
    guess = _clip(0.2)
    early = threading.Thread(target=lambda: results.update(early=node.transcribe(guess, "de", Priority.EARLY).text))
    early.start()
    time.sleep(0.2)
    question = threading.Thread(target=lambda: results.update(question=node.transcribe(_clip(0.4), "de").text))
    question.start()
    time.sleep(0.2)  # both are queued, the early one first
    for _ in range(2):
        job = worker._next(block_ms=1000)
        assert job is not None
        worker.serve(*job)
    early.join(5)
    question.join(5)
    assert results == {"question": "erste Frage", "early": "zweite"}
    assert len(fake.calls[0].samples) == 6400  # the question (0.4 s) went first, its audio intact


def test_a_question_no_worker_takes_is_given_up_at_its_deadline_and_then_dropped(redis_server):
    node = QueuedTranscriber(connect(redis_server.url, read_timeout_s=10), deadline_s=1)
    started = time.monotonic()
    with pytest.raises(RecognitionTimeout):
        node.transcribe(_clip(), "de")
    assert 0.9 < time.monotonic() - started < 3
    fake = FakeTranscriber(said("zu spät"))
    worker = AsrWorker(connect(redis_server.url, read_timeout_s=10), fake, name="late")
    worker.ensure_groups()
    job = worker._next(block_ms=500)
    assert job is not None
    worker.serve(*job)
    assert worker.dropped == 1 and fake.calls == []  # not recognised: nobody waits for it any more
    assert not list(node.client.scan_iter("hotline:asr:result:*"))


def test_a_failing_recogniser_is_reported_at_once(redis_server):
    client = connect(redis_server.url, read_timeout_s=10)
    worker = AsrWorker(client, Failing(), name="f")
    stop = threading.Event()
    runner = threading.Thread(target=worker.run, args=(stop,))
    runner.start()
    try:
        node = QueuedTranscriber(connect(redis_server.url, read_timeout_s=10), deadline_s=10)
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="recognition worker failed"):
            node.transcribe(_clip(), "de")
        assert time.monotonic() - started < 3
    finally:
        stop.set()
        runner.join(5)
