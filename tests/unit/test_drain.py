"""Draining a node: no new calls, the calls bound here finish, webhook calls kept in Redis move."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import generate_latest

from voice.runtime.drain import Drain
from voice.runtime.runtime import Runtime

pytestmark = pytest.mark.unit


def test_a_draining_node_refuses_new_calls_and_waits_only_for_calls_bound_to_it():
    runtime = Runtime()
    _, sip = runtime.admit("sip")
    _, webhook = runtime.admit("twilio")
    assert sip is not None and webhook is not None
    left: list[str] = []
    drain = Drain(runtime, grace_s=30, moving=("twilio",), on_start=[lambda: left.append("registry")], poll_s=0.01)
    threading.Timer(0.2, sip.release).start()
    assert drain.run() is True  # the SIP call ended; the webhook call goes on elsewhere
    assert left == ["registry"] and runtime.draining
    assert b"hotline_draining 1.0" in generate_latest(runtime.metrics.registry)
    admission, live = runtime.admit("sip")
    assert live is None and admission.reason == "draining"
    assert runtime.admit("twilio")[1] is not None  # a webhook call is not bound here: still taken in
    assert drain.run() is False  # a second SIGTERM does not start a second drain


def test_calls_still_running_when_the_grace_period_ends_are_reported():
    runtime = Runtime()
    _, call = runtime.admit("twilio-stream")
    ticks = iter(range(0, 1000, 3))  # each reading of the clock: 3 s later
    assert Drain(runtime, grace_s=10, poll_s=0.0).run(clock=lambda: float(next(ticks))) is False
    assert runtime.live_calls() == 1 and call is not None
