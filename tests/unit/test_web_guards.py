"""The web server's guards on their own: when a gathered request is complete, and throttled warnings."""

from __future__ import annotations

import pytest

from voice.web.throttle import WarnThrottle
from voice.web.worker import MAX_GATHERED_BODY, MAX_HEAD_BYTES, _complete

pytestmark = pytest.mark.unit


def test_a_request_is_handed_over_when_its_head_and_small_body_are_there():
    head = b"POST /twilio/voice HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n"
    assert not _complete(bytearray(b"GET / HTTP/1.1\r\nHost: h\r\n"))  # headers still coming
    assert _complete(bytearray(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"))
    assert not _complete(bytearray(head + b"CallSid=CA"))  # one byte of the body missing
    assert _complete(bytearray(head + b"CallSid=CA1"))
    big = f"POST / HTTP/1.1\r\nContent-Length: {MAX_GATHERED_BODY + 1}\r\n\r\n".encode()
    assert _complete(bytearray(big))  # a large body is read by the thread (and refused by the app's limit)
    assert _complete(bytearray(b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD_BYTES))  # gunicorn answers 431
    assert _complete(bytearray(b"GET / HTTP/1.1\r\nContent-Length: junk\r\n\r\n"))  # gunicorn answers 400


def test_warnings_are_throttled_per_address_and_memory_is_bounded():
    throttle = WarnThrottle(every_s=60.0, max_keys=3)
    assert throttle.count("a") == 1  # the first refusal is reported at once
    assert [throttle.count("a") for _ in range(5)] == [0] * 5  # then counted quietly
    assert throttle.count("b") == 1
    for key in "cdefg":
        throttle.count(key)
    assert len(throttle.counts) <= 4 and len(throttle.warned_at) <= 4
