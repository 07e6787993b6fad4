"""Framing SIP on a byte stream and the parser's strictness: what other stacks send that the hotline must
understand, and what it must refuse with the status RFC 3261 names."""

from __future__ import annotations

import pytest

from voice.transports.sip.framing import FramingError, StreamFramer, content_length
from voice.transports.sip.message import SipError, SipMessage, parse_message, unsupported_extensions

pytestmark = pytest.mark.unit

SDP = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


START = b"INVITE sip:hotline@10.0.0.5 SIP/2.0"


def invite(length_first: bool = True, start: bytes = START, extra: bytes = b"") -> bytes:
    length = b"Content-Length: %d\r\n" % len(SDP)
    headers = (
        b"Via: SIP/2.0/TCP 10.0.0.9:5060;branch=z9hG4bKx1\r\nFrom: <sip:a@pbx>;tag=f1\r\nTo: <sip:hotline@h>\r\n"
        b"Call-ID: k1\r\nCSeq: 1 INVITE\r\nContact: <sip:a@10.0.0.9;transport=tcp>\r\n" + extra
    )
    ordered = length + headers + b"Content-Type: application/sdp\r\n" if length_first else (
        headers + length + b"Content-Type: application/sdp\r\n"
    )
    return start + b"\r\n" + ordered + b"\r\n" + SDP


@pytest.mark.parametrize("length_first", [True, False])
def test_content_length_anywhere_among_the_headers_frames_the_body(length_first):
    options = b"OPTIONS sip:h SIP/2.0\r\nVia: SIP/2.0/TCP a;branch=z9hG4bK2\r\nl: 0\r\n\r\n"
    data = invite(length_first) + options
    framer = StreamFramer(16384)
    framed = [m for i in range(0, len(data), 7) for m in framer.feed(data[i : i + 7]).messages]  # dribbled in
    assert framed == [invite(length_first), options] and framer.buffer == b""
    assert parse_message(framed[0], stream=True).body == SDP


def test_keepalives_are_answered_and_limits_hold():
    framer = StreamFramer(200)
    assert framer.feed(b"\r\n\r\n").pongs == 1 and framer.feed(b"\r\n").pongs == 0
    with pytest.raises(FramingError):
        framer.feed(b"X" * 201)
    with pytest.raises(FramingError) as err:
        StreamFramer(200).feed(b"INVITE sip:a SIP/2.0\r\nContent-Length: 5000\r\n\r\n")
    assert err.value.head.endswith(b"\r\n\r\n")  # still answered (413) before the connection closes


@pytest.mark.parametrize("head", [b"Content-Length: 1e3", b"l: 5\r\nContent-Length: 6", b"Content-Length: -1"])
def test_a_length_that_cannot_be_trusted_stops_framing(head):
    with pytest.raises(FramingError):
        content_length(b"INVITE sip:a SIP/2.0\r\n" + head)


def test_a_length_in_a_body_or_a_longer_header_name_is_not_the_length():
    assert content_length(b"X-Content-Length: 9\r\nContent-Lengthy: 4\r\nL : 3") == 3


def _status(data: bytes) -> int:
    with pytest.raises(SipError) as err:
        parse_message(data)
    return err.value.status


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (invite(start=b"INVITE sip:hotline@10.0.0.5 SIP/2.0 "), 400),  # trailing space after the version
        (invite(start=b"INVITE sip:hotline@10.0.0.5 SIP/7.0"), 505),
        (invite(start=b"INVITE mailto:someone@example.org SIP/2.0"), 416),
        (invite(start=b"INVITE not-a-uri SIP/2.0"), 400),
        (invite(extra=b"Call-ID: k2\r\n"), 400),
        (invite(extra=b"CSeq: 2 INVITE\r\n"), 400),
        (invite(extra=b"l: 3\r\n"), 400),
    ],
)
def test_invalid_start_lines_and_repeated_single_headers_get_the_right_status(data, status):
    assert _status(data) == status


def test_methods_are_case_sensitive_and_the_version_is_not():
    lower = invite(start=b"invite sip:hotline@10.0.0.5 SIP/2.0").replace(b"CSeq: 1 INVITE", b"CSeq: 1 invite")
    lower = parse_message(lower)
    assert lower.method == "invite"  # an unknown method (501), not INVITE
    assert _status(invite(start=b"invite sip:hotline@10.0.0.5 SIP/2.0")) == 400  # CSeq says INVITE
    assert parse_message(invite(start=b"INVITE sip:hotline@10.0.0.5 sip/2.0")).method == "INVITE"


def test_unusual_but_valid_messages_are_understood():
    data = invite(extra=b"X-Unknown-Header: anything at all\r\n").replace(b"CSeq: 1 INVITE", b"CSeq: 0001 INVITE")
    data = data.replace(b"To: <sip:hotline@h>", b"To :\r\n  <sip:hotline@h>")  # folded, space before colon
    message = parse_message(data)
    assert message.cseq == (1, "INVITE") and message.get("to") == "<sip:hotline@h>"
    assert message.get("x-unknown-header") == "anything at all"


def test_required_extensions_that_are_not_supported_are_named():
    message = SipMessage(method="INVITE", headers=[("require", "100rel, timer"), ("require", "foo")])
    assert unsupported_extensions(message, frozenset({"timer"})) == ["100rel", "foo"]
    assert unsupported_extensions(SipMessage(method="INVITE"), frozenset()) == []
