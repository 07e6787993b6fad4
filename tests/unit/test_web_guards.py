"""The web server's guards on their own: when a gathered request is complete, and throttled warnings."""

from __future__ import annotations

import pytest

from voice.transports.twilio.stream_admission import UnstartedStreams, is_stream_upgrade
from voice.web.throttle import WarnThrottle
from voice.web.worker import MAX_BODY_BYTES, MAX_HEAD_BYTES, judge

pytestmark = pytest.mark.unit


def test_a_request_is_handed_over_when_its_head_and_body_are_there_and_refused_early_when_too_big():
    head = b"POST /twilio/voice HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n"
    assert judge(bytearray(b"GET / HTTP/1.1\r\nHost: h\r\n")) == "wait"  # headers still coming
    assert judge(bytearray(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")) == "complete"
    assert judge(bytearray(head + b"CallSid=CA")) == "wait"  # one byte of the body missing
    assert judge(bytearray(head + b"CallSid=CA1")) == "complete"
    big = f"POST / HTTP/1.1\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
    assert judge(bytearray(big)) == "413"  # refused before any thread would read it
    assert judge(bytearray(b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD_BYTES)) == "431"
    assert judge(bytearray(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")) == "411"
    assert judge(bytearray(b"GET / HTTP/1.1\r\nContent-Length: junk\r\n\r\n")) == "complete"  # gunicorn: 400


def test_warnings_are_throttled_per_address_and_memory_is_bounded():
    throttle = WarnThrottle(every_s=60.0, max_keys=3)
    assert throttle.count("a") == 1  # the first refusal is reported at once
    assert [throttle.count("a") for _ in range(5)] == [0] * 5  # then counted quietly
    assert throttle.count("b") == 1
    for key in "cdefg":
        throttle.count(key)
    assert len(throttle.counts) <= 4 and len(throttle.warned_at) <= 4


def test_a_stream_upgrade_is_recognised_and_unstarted_sockets_are_counted_per_address():
    upgrade = b"GET /twilio/stream HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    assert is_stream_upgrade(upgrade)
    assert is_stream_upgrade(upgrade.replace(b"Upgrade: websocket", b"upgrade:  WebSocket"))
    assert not is_stream_upgrade(upgrade.replace(b"/twilio/stream", b"/twilio/voice"))
    assert not is_stream_upgrade(b"GET /twilio/stream HTTP/1.1\r\nHost: h\r\n\r\n")  # a plain GET
    assert not is_stream_upgrade(upgrade.replace(b"GET", b"POST", 1))
    streams = UnstartedStreams(limit=2)
    assert streams.admit("a") and streams.admit("a") and not streams.admit("a")
    assert streams.full("a") and not streams.full("b") and streams.admit("b")
    streams.release("a")
    assert not streams.full("a") and streams.held("a") == 1
    streams.release("a")
    assert streams.held("a") == 0
