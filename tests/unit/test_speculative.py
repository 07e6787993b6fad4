"""Early recognition and retrieval during the caller's pause: reused when the clip is the same,
discarded otherwise, and never started while other recognitions run."""

from __future__ import annotations

import threading
from concurrent.futures import Executor, Future, ThreadPoolExecutor

import numpy as np

from tests.fakes import FakeAnswerer, said
from voice.domain import AudioClip
from voice.stream.speculative import Recognitions, SpeculativeAnswerer, SpeculativeTranscriber


class CountingTranscriber:
    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls = 0
        self.gate = gate

    def warm_up(self) -> None:
        pass

    def transcribe(self, audio, language=None):
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(5)
        return said(f"clip of {len(audio.samples)} samples")


def clip(n: int = 800) -> AudioClip:
    return AudioClip(np.zeros(n, dtype=np.float32), 8000)


class Inline(Executor):
    """Runs submitted work at once, so the test is deterministic."""

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def test_the_early_result_is_used_for_the_very_same_clip_only():
    inner = CountingTranscriber()
    spec = SpeculativeTranscriber(inner, Inline(), Recognitions())
    early = clip()
    spec.start(early, None)
    assert spec.transcribe(early).text == "clip of 800 samples" and inner.calls == 1 and spec.reused == 1
    spec.start(early, None)
    spec.transcribe(clip(800), None)  # equal samples, but another utterance: not reused
    assert spec.reused == 1
    spec.start(early, "de")
    spec.transcribe(early, None)  # the engine asks for detection, the early run had forced German
    assert spec.reused == 1
    assert inner.calls == 5  # every miss was recognised anew


def test_no_early_recognition_while_the_recogniser_is_busy():
    load = Recognitions()
    gate = threading.Event()
    inner = CountingTranscriber(gate)
    with ThreadPoolExecutor(2) as pool:
        other_call = SpeculativeTranscriber(inner, pool, load)
        this_call = SpeculativeTranscriber(inner, pool, load)
        running = pool.submit(other_call.transcribe, clip(), None)  # another caller's question
        while load.idle():
            pass
        this_call.start(clip(), None)
        assert inner.calls == 1  # nothing queued behind the other caller's question
        gate.set()
        running.result()
    assert load.idle()


def test_the_early_answer_is_used_for_the_same_text_and_language():
    answerer = FakeAnswerer()
    early = SpeculativeAnswerer(answerer)
    early.prefetch("Wie kann ich verlängern?", "de")
    first = early.answer("Wie kann ich verlängern?", "de")
    assert early.reused == 1 and first.topic == "aufenthaltserlaubnis-verlaengern"
    early.prefetch("Wie kann ich verlängern?", "de")
    early.answer("Wie kann ich verlängern?", "tr")  # another language: asked again
    assert early.reused == 1
