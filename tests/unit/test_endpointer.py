"""The endpointer on scripted speech probabilities: audio time only, no model."""

from __future__ import annotations

import math

import numpy as np

from voice.runtime.stream.endpointer import Endpointer, EndpointSettings, Pause, Resume, SpeechOnset, Utterance

WINDOW = 256  # 32 ms at 8 kHz


class ScriptedDetector:
    """One probability per 32 ms window, from a script; the samples carry the window index."""

    chunk_ms = 32.0

    def __init__(self, probabilities: list[float]) -> None:
        self.probabilities = list(probabilities)
        self.pending = 0

    def push(self, samples) -> list[float]:
        self.pending += len(samples)
        out = []
        while self.pending >= WINDOW and self.probabilities:
            self.pending -= WINDOW
            out.append(self.probabilities.pop(0))
        return out


def run(probabilities: list[float], settings: EndpointSettings | None = None) -> tuple[Endpointer, list]:
    endpointer = Endpointer(ScriptedDetector(probabilities), settings or EndpointSettings())
    events = []
    for i in range(len(probabilities)):
        events += [(i, e) for e in endpointer.push(np.full(WINDOW, i, dtype=np.float32))]
    return endpointer, events


def windows(ms: int) -> int:
    return round(ms / 32)


def test_speech_then_silence_makes_one_utterance_with_pre_roll():
    probs = [0.0] * windows(1000) + [0.9] * windows(1500) + [0.0] * windows(800)
    _, events = run(probs)
    kinds = [type(e).__name__ for _, e in events]
    assert kinds == ["SpeechOnset", "Pause", "Utterance"]
    onset = events[0][1]
    assert isinstance(onset, SpeechOnset) and abs(onset.at_ms - 1000) <= 32
    assert events[0][0] == windows(1000) + math.ceil(160 / 32) - 1  # reported once 160 ms were voiced
    utterance = events[-1][1]
    assert isinstance(utterance, Utterance)
    first_window = int(utterance.audio.samples[0])
    assert first_window == windows(1000) - windows(300) - 1 or first_window == windows(1000) - windows(300)
    assert 1.7 <= utterance.audio.duration_s <= 2.0  # 300 ms before, 1.5 s of speech, 150 ms after
    assert 480 <= utterance.endpoint_wait_ms <= 540


def test_a_cough_is_dropped_and_never_starts_speech():
    probs = [0.0] * 10 + [0.95] * windows(120) + [0.45] * 3 + [0.0] * windows(1000)
    endpointer, events = run(probs)
    assert events == [] and endpointer.dropped_bursts == 1


def test_the_clip_after_a_pause_is_the_same_object_when_nothing_more_was_said():
    probs = [0.0] * 5 + [0.9] * windows(1000) + [0.0] * windows(700)
    _, events = run(probs)
    pause = next(e for _, e in events if isinstance(e, Pause))
    utterance = next(e for _, e in events if isinstance(e, Utterance))
    assert utterance.audio is pause.audio  # the early recognition can be reused as it is


def test_speech_after_a_pause_resumes_and_extends_the_utterance():
    probs = [0.0] * 5 + [0.9] * windows(800) + [0.0] * windows(300) + [0.9] * windows(800) + [0.0] * windows(700)
    _, events = run(probs)
    kinds = [type(e).__name__ for _, e in events]
    assert kinds == ["SpeechOnset", "Pause", "Resume", "Pause", "Utterance"]
    utterance = events[-1][1]
    assert utterance.audio is events[3][1].audio and utterance.audio.duration_s > 2.0


def test_hysteresis_keeps_weak_windows_inside_speech():
    probs = [0.0] * 5 + [0.9] * windows(500) + [0.4] * windows(400) + [0.9] * windows(300) + [0.0] * windows(700)
    _, events = run(probs)
    assert [type(e).__name__ for _, e in events] == ["SpeechOnset", "Pause", "Utterance"]


def test_an_endless_talker_is_cut_at_the_maximum_length():
    probs = [0.9] * windows(3000)
    _, events = run(probs, EndpointSettings(max_utterance_ms=2000))
    utterances = [e for _, e in events if isinstance(e, Utterance)]
    assert len(utterances) == 1 and 1.9 <= utterances[0].audio.duration_s <= 2.3
    assert not any(isinstance(e, Resume) for _, e in events)


def test_an_utterance_is_dated_at_its_last_voiced_sample_when_the_caller_gives_the_clock():
    """The scheduler serves the caller who stopped talking first: the clip carries that moment."""
    probs = [0.0] * windows(300) + [0.9] * windows(1000) + [0.0] * windows(800)
    endpointer = Endpointer(ScriptedDetector(probs), EndpointSettings())
    clock, utterance = 500.0, None
    for i in range(len(probs)):
        clock += WINDOW / 8000
        for event in endpointer.push(np.full(WINDOW, i, dtype=np.float32), now=clock):
            if isinstance(event, Utterance):
                utterance = event
    assert utterance is not None and utterance.audio.ended_at is not None
    voiced_end = 500.0 + (windows(300) + windows(1000)) * WINDOW / 8000
    assert abs(utterance.audio.ended_at - voiced_end) < 0.04
    _, events = run(probs)  # no clock given: no date
    assert all(e.audio.ended_at is None for _, e in events if isinstance(e, Utterance))
