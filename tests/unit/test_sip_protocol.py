"""SIP, SDP, RTP and digest pieces on their own: parsing limits, negotiation, reordering, key events."""

from __future__ import annotations

import pytest

from voice.transports.sip.auth import DigestAuth, digest_response, parse_params
from voice.transports.sip.message import SipError, parse_message, response, tag_of, uri_user
from voice.transports.sip.rtp import EventDecoder, JitterBuffer, RtpPacket, build_rtp, mulaw_to_alaw, parse_rtp
from voice.transports.sip.sdp import PCMA, PCMU, SdpError, answer_for, parse_offer

pytestmark = pytest.mark.unit

INVITE = (
    b"INVITE sip:hotline@10.0.0.5 SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKa, SIP/2.0/UDP 10.0.0.1\r\n"
    b"f: \"Anna\" <sip:+4930111@pbx>;tag=abc\r\nt: <sip:hotline@10.0.0.5>\r\ni: c1\r\nCSeq: 7 INVITE\r\n"
    b"m: <sip:+4930111@10.0.0.9>\r\nSubject: a folded\r\n  header\r\nl: 0\r\n\r\n"
)


def test_compact_headers_folding_and_multiple_vias():
    m = parse_message(INVITE)
    assert m.method == "INVITE" and m.call_id == "c1" and m.cseq == (7, "INVITE")
    assert len(m.get_all("via")) == 2 and m.branch == "z9hG4bKa"
    assert m.get("subject") == "a folded header" and tag_of(m.get("from")) == "abc"
    assert uri_user("sip:+4930111@pbx") == "+4930111"
    r = response(m, 200, to_tag="xyz")
    assert tag_of(r.get("to")) == "xyz" and r.encode().startswith(b"SIP/2.0 200 OK\r\n")


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (INVITE.replace(b"CSeq: 7 INVITE", b"CSeq: 7 BYE"), 400),
        (INVITE.replace(b"l: 0", b"l: 50"), 400),
        (INVITE.replace(b"l: 0", b"l: 99999999"), 413),
        (INVITE.replace(b"i: c1\r\n", b""), 400),
        (b"hello world\r\n\r\n", 0),
    ],
)
def test_malformed_messages_say_what_to_answer(data, status):
    with pytest.raises(SipError) as err:
        parse_message(data, max_bytes=4096)
    assert err.value.status == status
    if status and b"i: c1" in data:
        assert err.value.message is not None  # enough was read to answer


OFFER = (b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
         b"m=audio 4000 RTP/AVP 18 8 0 96\r\na=rtpmap:96 telephone-event/8000\r\na=sendrecv\r\n")


def test_sdp_picks_the_first_g711_codec_and_keeps_the_event_type():
    offer = parse_offer(OFFER)
    assert (offer.codec, offer.payload_type, offer.event_pt, offer.port) == (PCMA, 8, 96, 4000)
    answer = answer_for(offer, "198.51.100.7", 20000, 1, 1).decode()
    assert "m=audio 20000 RTP/AVP 8 96" in answer and "a=rtpmap:96 telephone-event/8000" in answer
    hold = parse_offer(OFFER.replace(b"a=sendrecv", b"a=sendonly"))
    assert hold.on_hold and "a=recvonly" in answer_for(hold, "198.51.100.7", 20000, 1, 2).decode()
    dynamic = parse_offer(OFFER.replace(b"18 8 0 96", b"112 96") + b"a=rtpmap:112 PCMU/8000\r\n")
    assert (dynamic.codec, dynamic.payload_type) == (PCMU, 112)
    with pytest.raises(SdpError) as err:
        parse_offer(OFFER.replace(b"18 8 0 96", b"18"))
    assert err.value.status == 488


def test_jitter_buffer_reorders_and_marks_losses():
    buffer = JitterBuffer(depth=3)
    out = []
    for seq in (65534, 0, 65535, 2, 3, 4, 1, 5):  # wraps around, 1 arrives too late
        out += buffer.push(RtpPacket(0, seq, 0, 1, False, bytes([seq % 256])))
    out += buffer.flush()
    assert out[:3] == [bytes([254]), bytes([255]), bytes([0])]
    assert out[3] is None and buffer.late == 1  # 1 was given up for lost before it came
    assert out[4:] == [bytes([2]), bytes([3]), bytes([4]), bytes([5])]


def test_key_events_count_once_however_often_repeated():
    decoder = EventDecoder()
    packet = parse_rtp(build_rtp(101, 1, 8000, 9, bytes([11, 0x0A, 0, 160])))
    end = parse_rtp(build_rtp(101, 2, 8000, 9, bytes([11, 0x8A, 1, 64])))
    assert packet is not None and end is not None
    keys = [decoder.push(p, t) for p, t in ((packet, 0.0), (packet, 0.02), (end, 0.1), (end, 0.1))]
    assert keys == ["#", None, None, None]
    assert decoder.push(packet, 2.0) == "#"  # the same recording played again later is a new press


def test_mulaw_to_alaw_keeps_silence_and_sign():
    assert mulaw_to_alaw(b"\xff") == b"\xd5"  # silence in both laws
    assert len(mulaw_to_alaw(bytes(range(256)))) == 256


def test_digest_authentication_round_trip():
    auth = DigestAuth("office", "s3cret", "hotline")
    params = parse_params(auth.challenge())
    uri = "sip:hotline@10.0.0.5"
    answer = digest_response("office", "hotline", "s3cret", "INVITE", uri, params["nonce"], "auth", "00000001", "xy")
    header = (f'Digest username="office", realm="hotline", nonce="{params["nonce"]}", uri="{uri}", '
              f'response="{answer}", qop=auth, nc=00000001, cnonce="xy", algorithm=MD5')
    assert auth.check("INVITE", header) == "ok"
    assert auth.check("INVITE", header.replace(answer, "0" * 32)) == "bad"
    assert auth.check("INVITE", "") == "bad"
