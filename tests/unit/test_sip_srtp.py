"""SRTP for SIP audio: SDES keys in SDP (offer, answer, policy) and libsrtp protecting the packets."""

from __future__ import annotations

import base64
import re

import pytest

from tests.unit.test_sip_agent import FakeFlow, agent, of_type, request, sent, statuses
from voice.transports.sip.events import IncomingCall
from voice.transports.sip.rtp import build_rtp, parse_rtp
from voice.transports.sip.sdp import SdpError, answer_for, new_key, parse_offer
from voice.transports.sip.srtp import SrtpContext

pytestmark = pytest.mark.unit
THEIR_KEY = base64.b64encode(bytes(range(30))).decode()


def offer(profile: str = "RTP/SAVP", crypto: str = f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}") -> bytes:
    lines = ["v=0", "o=- 1 1 IN IP4 10.0.0.9", "s=-", "c=IN IP4 10.0.0.9", "t=0 0",
             f"m=audio 4000 {profile} 8 0 101", "a=rtpmap:101 telephone-event/8000"]
    lines += [crypto] if crypto else []
    return ("\r\n".join(lines + ["a=sendrecv"]) + "\r\n").encode()


def test_an_encrypted_offer_is_answered_encrypted_with_our_own_key_for_the_same_tag():
    media = parse_offer(offer(crypto=f"a=crypto:7 AES_CM_128_HMAC_SHA1_32 inline:{THEIR_KEY}|2^20|1:4\r\n"
                                     f"a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}"))
    assert media.crypto is not None and media.crypto.tag == 3  # the MKI/lifetime line is passed over
    ours = new_key()
    answer = answer_for(media, "10.0.0.5", 20000, 1, 1, ours).decode()
    assert "m=audio 20000 RTP/SAVP 8 101" in answer
    assert f"a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{ours}" in answer and THEIR_KEY not in answer
    assert len(base64.b64decode(ours)) == 30 and new_key() != ours


@pytest.mark.parametrize(("body", "policy", "why"), [
    (offer(profile="RTP/AVP", crypto=""), "required", "requires SRTP"),
    (offer(), "off", "switched off"),
    (offer(crypto="a=crypto:1 AEAD_AES_256_GCM inline:" + THEIR_KEY), "optional", "no usable a=crypto"),
    (offer(crypto="a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ="), "optional", "no usable a=crypto"),
    (offer(crypto=""), "optional", "no usable a=crypto"),
])
def test_offers_the_policy_or_the_suites_do_not_allow_are_not_acceptable(body, policy, why):
    with pytest.raises(SdpError, match=why) as caught:
        parse_offer(body, srtp=policy)
    assert caught.value.status == 488


def test_the_agent_answers_an_srtp_offer_with_savp_and_refuses_plain_rtp_when_encryption_is_required():
    ua = agent(srtp="required")
    refused = ua.receive(request("INVITE", body=offer(profile="RTP/AVP", crypto="")), FakeFlow(), 0.0)
    assert statuses(refused) == [488]
    events = ua.receive(request("INVITE", body=offer(), call_id="c2"), FakeFlow(), 0.0)
    (incoming,) = of_type(events, IncomingCall)
    ua.ring(incoming.dialog, 20000, 0.0)
    ua.tick(0.5)
    ok = sent(ua.answer(incoming.dialog, 0.5))[0]
    assert ok.status == 200 and b"RTP/SAVP" in ok.body
    key = re.search(rb"inline:(\S+)", ok.body).group(1).decode()
    assert key == incoming.dialog.srtp_key and key != THEIR_KEY


def test_packets_protected_by_one_side_are_played_by_the_other_and_forged_ones_are_dropped():
    ours, theirs = new_key(), new_key()
    hotline = SrtpContext("AES_CM_128_HMAC_SHA1_80", theirs, ours)
    caller = SrtpContext("AES_CM_128_HMAC_SHA1_80", ours, theirs)
    plain = build_rtp(8, 1, 160, 0x1234, b"\xd5" * 160)
    wire = caller.protect(plain)
    assert wire != plain and len(wire) == len(plain) + 10  # encrypted payload, 80-bit tag
    assert hotline.unprotect(wire) == plain
    assert hotline.unprotect(plain) is None  # plain RTP on an encrypted call: never played
    tampered = bytearray(caller.protect(build_rtp(8, 2, 320, 0x1234, b"\xd5" * 160)))
    tampered[20] ^= 1
    assert hotline.unprotect(bytes(tampered)) is None and hotline.rejected == 2
    back = caller.unprotect(hotline.protect(build_rtp(0, 7, 9, 0x99, b"\xff" * 160)))
    assert back is not None and parse_rtp(back).payload == b"\xff" * 160


def test_a_new_key_from_the_far_end_keeps_our_stream_going():
    ours, first, second = new_key(), new_key(), new_key()
    hotline = SrtpContext("AES_CM_128_HMAC_SHA1_80", first, ours)
    moved = hotline.with_remote("AES_CM_128_HMAC_SHA1_80", second)
    assert moved._tx is hotline._tx and moved.with_remote("AES_CM_128_HMAC_SHA1_80", second) is moved
    caller = SrtpContext("AES_CM_128_HMAC_SHA1_80", ours, second)
    packet = build_rtp(8, 5, 800, 0x42, b"\x01" * 160)
    assert moved.unprotect(caller.protect(packet)) == packet
