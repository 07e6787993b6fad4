"""The scheduler's rules on fake stages and a fake clock: questions before early work, oldest endpoint
first, never more recognitions than slots, and the wait it expects for admission control."""

from __future__ import annotations

import math
import threading
import time

import pytest

from voice.runtime.load import QuestionRate, erlang_c, wait_quantile_s
from voice.runtime.runtime import AdmissionPolicy, Runtime
from voice.runtime.scheduler import Priority, Scheduler


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Manual:
    """Collects dispatched jobs; the test runs them one by one, the clock advancing as each 'works'."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.jobs: list = []

    def __call__(self, job) -> None:
        self.jobs.append(job)

    def run_next(self, took_s: float = 1.0) -> None:
        self.clock.now += took_s
        self.jobs.pop(0)()


def setup(slots: int = 1) -> tuple[Scheduler, Manual, Clock, list[str]]:
    clock = Clock()
    spawn = Manual(clock)
    return Scheduler(slots, clock=clock, spawn=spawn), spawn, clock, []


def job(log: list[str], name: str):
    def work() -> str:
        log.append(name)
        return name

    return work


def test_finished_questions_are_served_oldest_endpoint_first_whatever_the_submission_order():
    s, spawn, clock, ran = setup()
    s.submit(job(ran, "busy"))  # holds the only slot
    s.submit(job(ran, "late"), endpoint_at=clock.now - 0.1)
    s.submit(job(ran, "oldest"), endpoint_at=clock.now - 0.9)
    s.submit(job(ran, "middle"), endpoint_at=clock.now - 0.5)
    while spawn.jobs:
        spawn.run_next()
    assert ran == ["busy", "oldest", "middle", "late"]


def test_early_work_runs_only_on_idle_capacity_and_is_never_queued():
    s, spawn, _, ran = setup()
    early = s.submit(job(ran, "early"), Priority.EARLY)
    assert not early.future.cancelled() and len(spawn.jobs) == 1  # idle: it starts at once
    refused = s.submit(job(ran, "early 2"), Priority.EARLY)
    assert refused.future.cancelled() and s.early_refused == 1  # the slot is taken: refused, not queued
    spawn.run_next()
    assert ran == ["early"] and early.future.result() == "early"


def test_a_finished_question_drops_early_work_and_goes_first():
    s, spawn, clock, ran = setup()
    running = s.submit(job(ran, "early running"), Priority.EARLY)
    question = s.submit(job(ran, "question"), endpoint_at=clock.now)
    assert running.dropped and not question.dropped and s.early_dropped == 1
    assert s.submit(job(ran, "early 2"), Priority.EARLY).future.cancelled()  # a question waits: no guesses
    spawn.run_next()
    spawn.run_next()
    assert ran == ["early running", "question"] and question.future.result() == "question"


def test_running_early_work_is_dropped_when_a_question_finds_every_slot_taken():
    s, spawn, clock, ran = setup(slots=2)
    s.submit(job(ran, "question 1"), endpoint_at=clock.now)
    early = s.submit(job(ran, "early"), Priority.EARLY)  # the second slot is idle: it runs
    assert not early.dropped
    question = s.submit(job(ran, "question 2"), endpoint_at=clock.now)  # both slots busy: early is dropped
    assert early.dropped
    while spawn.jobs:
        spawn.run_next()
    assert question.future.result() == "question 2"


def test_follow_up_work_is_done_before_the_result_is_handed_over_and_skipped_once_dropped():
    s, spawn, clock, ran = setup()
    seen: list[tuple[str, bool]] = []
    kept = s.submit(job(ran, "q1"), endpoint_at=clock.now, then=lambda r: seen.append((r, kept.future.done())))
    spawn.run_next()
    assert seen == [("q1", False)] and kept.future.result() == "q1"  # done before the waiter woke
    s2, spawn2, clock2, ran2 = setup()
    skipped: list[str] = []
    guess = s2.submit(job(ran2, "guess"), Priority.EARLY, then=skipped.append)
    s2.submit(job(ran2, "question"), endpoint_at=clock2.now)
    spawn2.run_next()
    spawn2.run_next()
    assert guess.dropped and guess.future.result() == "guess" and skipped == []


def test_no_more_recognitions_run_than_slots_with_real_threads():
    s = Scheduler(slots=2)
    lock, running, peak = threading.Lock(), [0], [0]

    def work() -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return 1

    tickets = [s.submit(work) for _ in range(12)]
    assert sum(t.future.result(timeout=5) for t in tickets) == 12
    assert peak[0] == 2


def test_an_error_reaches_the_caller_and_frees_the_slot():
    s, spawn, _, ran = setup()

    def broken() -> str:
        raise RuntimeError("decoder failed")

    bad = s.submit(broken)
    good = s.submit(job(ran, "next"))
    spawn.run_next()
    with pytest.raises(RuntimeError, match="decoder failed"):
        bad.future.result()
    spawn.run_next()
    assert good.future.result() == "next"


def test_the_expected_wait_counts_the_queue_times_the_measured_stage_time():
    s, spawn, clock, ran = setup()
    assert s.expected_wait_s() == 0.0
    s.submit(job(ran, "a"), endpoint_at=clock.now)
    spawn.run_next(took_s=0.5)  # measured: 0.5 s per recognition
    assert s.stage_s == pytest.approx(0.5)
    for name in "bcd":
        s.submit(job(ran, name), endpoint_at=clock.now)
    assert s.load() == (2, 1)
    assert s.expected_wait_s() == pytest.approx(1.5)  # one running and two waiting, 0.5 s each


def test_admission_refuses_past_the_wait_budget_or_the_call_limit_and_keeps_calls_in_progress():
    s, spawn, clock, ran = setup()
    runtime = Runtime(s, AdmissionPolicy(wait_budget_s=2.0, max_calls=3), clock=clock)
    first, call = runtime.admit("sip")
    assert first.admitted and call is not None and runtime.live_calls() == 1
    for name in "abc":  # a slow recogniser (1 s each, the initial estimate), three questions in line
        s.submit(job(ran, name), endpoint_at=clock.now)
    refused, none = runtime.admit("twilio")
    assert not refused.admitted and refused.reason == "wait" and none is None
    assert refused.expected_wait_s == pytest.approx(3.0)
    while spawn.jobs:
        spawn.run_next()
    second, _ = runtime.admit("twilio")
    third, _ = runtime.admit("stream")
    assert second.admitted and third.admitted
    full, _ = runtime.admit("sip")
    assert not full.admitted and full.reason == "max_calls" and runtime.refused == {"wait": 1, "max_calls": 1}
    call.release()
    call.release()  # idempotent: a call ends once however many paths report it
    assert runtime.live_calls() == 2 and runtime.admit("sip")[0].admitted


def test_erlang_c_and_the_wait_quantile_match_the_textbook():
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # one server: the chance to wait is the utilisation
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(2, 2.0) == 1.0 and erlang_c(3, 0.0) == 0.0
    assert wait_quantile_s(0.5, 1.0, 1) == pytest.approx(math.log(10) / 0.5)  # P(W>t) = 0.5 e^{-0.5 t}
    assert wait_quantile_s(0.01, 1.0, 2) == 0.0  # almost never waits
    assert wait_quantile_s(2.0, 1.0, 2) == math.inf


def test_the_question_rate_starts_at_the_prior_and_follows_what_calls_ask():
    rate = QuestionRate(prior_per_min=2.0, prior_weight_s=600.0, half_life_s=1e9)
    assert rate.per_call_s == pytest.approx(2 / 60)
    rate.observe(0.0, 0, 0)
    rate.observe(600.0, 10, 300)  # ten calls for ten minutes asked 300 questions: 3 a minute each
    assert rate.per_call_s == pytest.approx((300 + 20) / (6000 + 600))
    rate.observe(1200.0, 10, 300)  # then ten minutes of calls that asked nothing
    assert rate.per_call_s < 2 / 60


def test_admission_refuses_calls_whose_future_questions_would_wait_too_long():
    s, spawn, clock, ran = setup()
    # six questions a minute per call, 1 s each, one slot: the third call would make p95 wait 2.6 s
    runtime = Runtime(s, AdmissionPolicy(wait_budget_s=2.0, questions_per_min=6.0), clock=clock)
    calls = [runtime.admit("sip")[1] for _ in range(2)]
    assert all(c is not None for c in calls)
    refused, none = runtime.admit("sip")
    assert none is None and refused.reason == "load" and refused.expected_wait_s == 0.0  # the queue is empty
    assert refused.predicted_wait_s == pytest.approx(math.log(0.3 / 0.05) / 0.7)
    calls[0].release()  # type: ignore[union-attr]
    assert runtime.admit("sip")[0].admitted
    clock.now += 3600  # an hour of two calls that asked nothing: the measured rate falls, more fit
    assert runtime.admit("sip")[0].admitted and runtime.refused == {"load": 1}
