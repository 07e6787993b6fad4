"""The web server's guards on their own: when a gathered request is complete, and throttled warnings."""

from __future__ import annotations

import pytest

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
