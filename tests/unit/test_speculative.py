"""Early recognition and retrieval during the caller's pause: reused when the clip is the same,
discarded otherwise, and never started while other recognitions run."""

from __future__ import annotations

import threading

import numpy as np

from tests.fakes import FakeAnswerer, said
from voice.core.domain import AudioClip
from voice.runtime.recognition import ScheduledTranscriber
from voice.runtime.scheduler import Priority, Scheduler
from voice.runtime.stream.speculative import SpeculativeAnswerer, SpeculativeTranscriber


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


class Manual:
    """The scheduler's spawn: jobs run when the test says so."""

    def __init__(self) -> None:
        self.jobs: list = []

    def __call__(self, job) -> None:
        self.jobs.append(job)

    def run_all(self) -> None:
        while self.jobs:
            self.jobs.pop(0)()


def scheduled(inner, slots: int = 1) -> tuple[ScheduledTranscriber, Manual]:
    spawn = Manual()
    return ScheduledTranscriber(inner, Scheduler(slots, spawn=spawn)), spawn


def test_the_early_result_is_used_for_the_very_same_clip_only():
    inner = CountingTranscriber()
    recogniser = ScheduledTranscriber(inner, Scheduler(1))  # real threads
    spec = SpeculativeTranscriber(recogniser)
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


def test_no_early_recognition_while_the_recogniser_is_busy_and_no_follow_up_once_dropped():
    inner = CountingTranscriber()
    recogniser, spawn = scheduled(inner)
    other_call, this_call = SpeculativeTranscriber(recogniser), SpeculativeTranscriber(recogniser)
    question = recogniser.submit(clip(), None, Priority.QUESTION)  # another caller's question holds the slot
    looked_up: list = []
    this_call.start(clip(), None, looked_up.append)
    assert recogniser.scheduler.early_refused == 1 and len(spawn.jobs) == 1  # nothing queued behind it
    spawn.run_all()
    assert question.future.result().text and inner.calls == 1
    other_call.start(clip(), None, looked_up.append)  # idle now: early work starts
    recogniser.submit(clip(), None, Priority.QUESTION)  # a finished question arrives meanwhile
    spawn.run_all()
    assert inner.calls == 3 and looked_up == []  # the early guess ran, but its answer lookup was skipped
    assert recogniser.scheduler.early_dropped == 1


def test_the_early_answer_is_used_for_the_same_text_and_language():
    answerer = FakeAnswerer()
    early = SpeculativeAnswerer(answerer)
    early.prefetch("Wie kann ich verlängern?", "de")
    first = early.answer("Wie kann ich verlängern?", "de")
    assert early.reused == 1 and first.topic == "aufenthaltserlaubnis-verlaengern"
    early.prefetch("Wie kann ich verlängern?", "de")
    early.answer("Wie kann ich verlängern?", "tr")  # another language: asked again
    assert early.reused == 1
