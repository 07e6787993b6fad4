"""The sans-IO SIP user agent and its transactions: messages and clock readings in, bytes and events out.

No socket, thread or clock: each test feeds requests as bytes with a time and reads what the agent
wants sent and which call events it reports.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pytest

from voice.transports.sip.agent import TRANSFER_GRACE_S, UserAgent
from voice.transports.sip.auth import DigestAuth, digest_response, parse_params
from voice.transports.sip.dialog import CallState, Dialog
from voice.transports.sip.events import AnswerDue, CallEnded, Event, IncomingCall, KeyPressed, MediaChanged, Send
from voice.transports.sip.message import SipMessage, parse_message, tag_of
from voice.transports.sip.transaction import T1, T2, TIMEOUT_S, AnswerRetransmission, ClientTransaction, TimerOutcome
from voice.transports.sip.uas import AgentConfig

pytestmark = pytest.mark.unit

OFFER = (b"v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n"
         b"m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")


@dataclass
class FakeFlow:
    """The transport's return path as the agent sees it: data only (it never sends)."""

    transport: str = "UDP"
    addr: tuple[str, int] = ("10.0.0.9", 5060)
    local: str = "10.0.0.5"
    port: int = 0

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"


def request(method: str, branch: str = "z9hG4bKinv", cseq: int = 1, to_tag: str = "", body: bytes = b"",
            call_id: str = "c1", extra: str = "", cseq_method: str = "") -> bytes:
    to = "<sip:hotline@10.0.0.5>" + (f";tag={to_tag}" if to_tag else "")
    typed = body and method in ("INVITE", "ACK") and "content-type" not in extra.lower()
    content = "Content-Type: application/sdp\r\n" if typed else ""
    return (f"{method} sip:hotline@10.0.0.5 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:5060;branch={branch};rport\r\n"
            f"From: <sip:+4915112345678@pbx>;tag=caller\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
            f"CSeq: {cseq} {cseq_method or method}\r\nContact: <sip:caller@10.0.0.9:5060>\r\n"
            f"Record-Route: <sip:proxy.example;lr>\r\nMax-Forwards: 70\r\n{extra}{content}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def sent(events: list[Event]) -> list[SipMessage]:
    return [parse_message(e.data) for e in events if isinstance(e, Send)]


def statuses(events: list[Event]) -> list[int]:
    return [m.status for m in sent(events)]


def of_type(events: list[Event], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def agent(**config) -> UserAgent:
    defaults = {"networks": [ipaddress.ip_network("10.0.0.0/8")], "ring_s": 0.5, "port": 5060, "max_calls": 2}
    return UserAgent(AgentConfig(**{**defaults, **config}))


def ringing(ua: UserAgent, flow: FakeFlow | None = None, **invite) -> tuple[Dialog, list[Event]]:
    events = ua.receive(request("INVITE", body=OFFER, **invite), flow or FakeFlow(), 0.0)
    (incoming,) = of_type(events, IncomingCall)
    return incoming.dialog, ua.ring(incoming.dialog, 20000, 0.0)


def answered(ua: UserAgent, flow: FakeFlow | None = None, ack: bool = True) -> Dialog:
    d, _ = ringing(ua, flow)
    assert of_type(ua.tick(0.5), AnswerDue)
    ua.answer(d, 0.5)
    if ack:
        ua.receive(request("ACK", branch="z9hG4bKack", to_tag=d.local_tag), flow or FakeFlow(), 0.6)
    return d


def test_an_invite_rings_then_is_answered_with_sdp_and_confirmed_by_the_ack():
    ua = agent()
    d, events = ringing(ua)
    assert statuses(events) == [100, 180] and d.state is CallState.RINGING
    assert ua.tick(0.4) == []  # still ringing
    assert of_type(ua.tick(0.5), AnswerDue)
    ok = sent(ua.answer(d, 0.5))[0]
    assert ok.status == 200 and tag_of(ok.get("to")) == d.local_tag
    assert b"m=audio 20000 RTP/AVP 8 101" in ok.body and ok.get("record-route") == "<sip:proxy.example;lr>"
    assert ok.get("contact") == "<sip:hotline@10.0.0.5:5060>"
    assert d.state is CallState.ANSWERED
    assert ua.receive(request("ACK", branch="z9hG4bKack", to_tag=d.local_tag), FakeFlow(), 0.7) == []
    assert d.state is CallState.CONFIRMED
    assert ua.tick(100.0) == []  # nothing repeated once acknowledged


def test_the_2xx_is_repeated_over_udp_until_the_ack_and_the_call_ends_without_one():
    ua = agent()
    d = answered(ua, ack=False)
    assert statuses(ua.tick(0.5 + T1)) == [200]
    assert ua.tick(0.5 + T1 + 0.1) == []  # the next one is 2*T1 later
    assert statuses(ua.tick(0.5 + 3 * T1)) == [200]
    events = ua.tick(0.5 + TIMEOUT_S)
    assert [m.method for m in sent(events) if m.is_request][-1:] == ["BYE"]
    assert [e.reason for e in of_type(events, CallEnded)] == ["no-ack"] and d.state is CallState.ENDED


def test_no_2xx_is_repeated_over_tcp():
    ua = agent()
    answered(ua, FakeFlow(transport="TCP"))
    assert ua.tick(10.0) == [] and ua.next_deadline() is None


def test_a_retransmitted_invite_gets_the_last_response_again_and_no_second_call():
    ua = agent()
    d, events = ringing(ua)
    again = ua.receive(request("INVITE", body=OFFER), FakeFlow(), 0.2)
    assert statuses(again) == [180] and not of_type(again, IncomingCall)
    assert len(ua.dialogs) == 1


def test_cancel_while_ringing_ends_the_call_with_487_and_a_late_copy_gets_487_again():
    ua = agent()
    d, _ = ringing(ua)
    events = ua.receive(request("CANCEL", cseq=1), FakeFlow(), 0.2)
    assert statuses(events) == [200, 487]
    assert [e.reason for e in of_type(events, CallEnded)] == ["cancelled"] and not ua.dialogs
    assert ua.tick(1.0) == []  # the answer timer finds the call gone
    late = ua.receive(request("INVITE", body=OFFER), FakeFlow(), 1.5)
    assert statuses(late) == [487] and not of_type(late, IncomingCall)


def test_a_cancel_that_races_admission_is_reported_when_the_transport_rings():
    ua = agent()
    events = ua.receive(request("INVITE", body=OFFER), FakeFlow(), 0.0)
    d = of_type(events, IncomingCall)[0].dialog
    ua.receive(request("CANCEL"), FakeFlow(), 0.1)
    assert of_type(ua.ring(d, 20000, 0.2), CallEnded)  # the transport frees what it opened


def test_a_refused_call_gets_503_and_its_retransmission_the_same_answer_without_a_new_admission():
    ua = agent()
    d = of_type(ua.receive(request("INVITE", body=OFFER), FakeFlow(), 0.0), IncomingCall)[0].dialog
    (refusal,) = sent(ua.refuse(d, 503, [("retry-after", "30")]))
    assert refusal.status == 503 and refusal.get("retry-after") == "30" and not ua.dialogs
    again = ua.receive(request("INVITE", body=OFFER), FakeFlow(), T1)
    assert statuses(again) == [503] and not of_type(again, IncomingCall)


def test_the_callers_bye_ends_the_call_and_an_unknown_one_gets_481():
    ua = agent()
    d = answered(ua)
    events = ua.receive(request("BYE", branch="z9hG4bKbye", cseq=2, to_tag=d.local_tag), FakeFlow(), 3.0)
    assert statuses(events) == [200] and [e.reason for e in of_type(events, CallEnded)] == ["hangup"]
    again = request("BYE", branch="z9hG4bKb2", cseq=3, to_tag=d.local_tag)
    assert statuses(ua.receive(again, FakeFlow(), 3.1)) == [481]


def test_the_hotlines_bye_is_built_inside_the_dialog_and_repeated_until_answered():
    ua = agent()
    d = answered(ua)
    events = ua.hang_up(d, "hangup", 5.0)
    (bye,) = sent(events)
    assert bye.method == "BYE" and bye.uri == "sip:caller@10.0.0.9:5060" and bye.cseq == (2, "BYE")
    assert tag_of(bye.get("from")) == d.local_tag and tag_of(bye.get("to")) == "caller"
    assert bye.get("route") == "<sip:proxy.example;lr>" and bye.call_id == "c1"
    assert of_type(events, CallEnded) and d.state is CallState.ENDED
    assert [m.method for m in sent(ua.tick(5.0 + T1))] == ["BYE"]  # timer E
    ok = f"SIP/2.0 200 OK\r\nVia: {bye.get('via')}\r\nFrom: {bye.get('from')}\r\nTo: {bye.get('to')}\r\n" \
         f"Call-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    assert ua.receive(ok.encode(), FakeFlow(), 5.6) == []
    assert ua.tick(60.0) == []  # answered: no more copies


def test_hanging_up_while_ringing_sends_480():
    ua = agent()
    d, _ = ringing(ua)
    assert statuses(ua.hang_up(d, "shutdown", 0.1)) == [480] and d.state is CallState.ENDED


def reply_to(message: SipMessage, status: int) -> bytes:
    return (f"SIP/2.0 {status} X\r\nVia: {message.get('via')}\r\nFrom: {message.get('from')}\r\n"
            f"To: {message.get('to')}\r\nCall-ID: {message.call_id}\r\nCSeq: {message.get('cseq')}\r\n"
            f"Content-Length: 0\r\n\r\n").encode()


def test_an_accepted_transfer_ends_our_leg_on_the_final_notify():
    ua = agent()
    d = answered(ua)
    (refer,) = sent(ua.transfer(d, "sip:staff@pbx", 2.0))
    assert refer.method == "REFER" and refer.get("refer-to") == "<sip:staff@pbx>"
    assert ua.receive(reply_to(refer, 202), FakeFlow(), 2.1) == []
    trying = request("NOTIFY", branch="z9hG4bKn1", cseq=2, to_tag=d.local_tag, body=b"SIP/2.0 100 Trying")
    assert statuses(ua.receive(trying, FakeFlow(), 2.2)) == [200] and d.state is CallState.CONFIRMED
    done = request("NOTIFY", branch="z9hG4bKn2", cseq=3, to_tag=d.local_tag, body=b"SIP/2.0 200 OK")
    events = ua.receive(done, FakeFlow(), 3.0)
    assert [m.method or m.status for m in sent(events)] == [200, "BYE"]
    assert [e.reason for e in of_type(events, CallEnded)] == ["transferred"]


def test_an_accepted_transfer_without_a_result_ends_after_the_grace_time():
    ua = agent()
    d = answered(ua)
    (refer,) = sent(ua.transfer(d, "sip:staff@pbx", 2.0))
    ua.receive(reply_to(refer, 202), FakeFlow(), 2.1)
    assert not of_type(ua.tick(2.1 + TRANSFER_GRACE_S - 0.1), CallEnded)
    assert [e.reason for e in of_type(ua.tick(2.1 + TRANSFER_GRACE_S), CallEnded)] == ["transferred"]


@pytest.mark.parametrize("answer", [603, None])
def test_a_refused_or_unanswered_refer_ends_the_call(answer):
    ua = agent()
    d = answered(ua)
    (refer,) = sent(ua.transfer(d, "sip:staff@pbx", 2.0))
    if answer is None:
        resent = [m.method for t in (2.0 + T1, 2.0 + 3 * T1) for m in sent(ua.tick(t))]
        assert resent == ["REFER", "REFER"]
        events = ua.tick(2.0 + TIMEOUT_S)
    else:
        events = ua.receive(reply_to(refer, answer), FakeFlow(), 2.2)
    assert "BYE" in [m.method for m in sent(events)]
    assert [e.reason for e in of_type(events, CallEnded)] == ["transfer-failed"]


def test_a_transfer_without_a_target_hangs_up():
    ua = agent()
    d = answered(ua)
    events = ua.transfer(d, "", 1.0)
    assert [m.method for m in sent(events)] == ["BYE"] and of_type(events, CallEnded)


def test_info_keys_are_reported_and_other_bodies_refused():
    ua = agent()
    d = answered(ua)
    relay = request("INFO", branch="z9hG4bKi1", cseq=2, to_tag=d.local_tag, body=b"Signal=5\r\nDuration=160\r\n",
                    extra="Content-Type: application/dtmf-relay\r\n")
    events = ua.receive(relay, FakeFlow(), 1.0)
    assert statuses(events) == [200] and [e.key for e in of_type(events, KeyPressed)] == ["5"]
    text = request("INFO", branch="z9hG4bKi2", cseq=3, to_tag=d.local_tag, body=b"5",
                   extra="Content-Type: text/plain\r\n")
    events = ua.receive(text, FakeFlow(), 1.1)
    assert statuses(events) == [415] and not of_type(events, KeyPressed)


def test_hold_is_a_media_change_answered_with_a_newer_sdp():
    ua = agent()
    d = answered(ua)
    hold = request("INVITE", branch="z9hG4bKre", cseq=2, to_tag=d.local_tag,
                   body=OFFER.replace(b"a=sendrecv", b"a=sendonly"))
    events = ua.receive(hold, FakeFlow(), 2.0)
    (change,) = of_type(events, MediaChanged)
    assert change.offer.on_hold and statuses(events) == [200]
    body = sent(events)[0].body
    assert b" 2 IN IP4 10.0.0.5" in body and b"a=recvonly" in body  # the SDP version went up


def test_an_invite_without_sdp_gets_our_offer_and_the_ack_carries_the_answer():
    ua = agent()
    events = ua.receive(request("INVITE"), FakeFlow(), 0.0)
    d = of_type(events, IncomingCall)[0].dialog
    ua.ring(d, 20000, 0.0)
    ua.tick(0.5)
    ok = sent(ua.answer(d, 0.5))[0]
    assert b"m=audio 20000" in ok.body and d.offer is None
    events = ua.receive(request("ACK", branch="z9hG4bKa", to_tag=d.local_tag, body=OFFER), FakeFlow(), 0.6)
    assert of_type(events, MediaChanged) and d.offer is not None and d.state is CallState.CONFIRMED


@pytest.mark.parametrize(
    ("data", "addr", "status"),
    [
        (request("INVITE", body=OFFER), ("192.0.2.1", 5060), 403),  # outside the allow-list
        (request("SUBSCRIBE"), ("10.0.0.9", 5060), 405),
        (request("FOO"), ("10.0.0.9", 5060), 501),
        (request("INVITE", body=OFFER, extra="Require: 100rel\r\n"), ("10.0.0.9", 5060), 420),
        (request("INVITE", body=b"not sdp", extra="Content-Type: text/plain\r\n"), ("10.0.0.9", 5060), 415),
        (request("INVITE", body=OFFER.replace(b"8 0 101", b"18")), ("10.0.0.9", 5060), 488),
        (request("INVITE").replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"), ("10.0.0.9", 5060), 400),
        (request("BYE", to_tag="nobody"), ("10.0.0.9", 5060), 481),
        (request("INVITE", to_tag="nobody"), ("10.0.0.9", 5060), 481),
    ],
)
def test_requests_the_hotline_cannot_take_get_a_clear_status(data, addr, status):
    ua = agent()
    events = ua.receive(data, FakeFlow(addr=addr), 0.0)
    assert statuses(events) == [status] and not of_type(events, IncomingCall)


def test_a_malformed_ack_or_garbage_gets_no_answer_and_nothing_raises():
    ua = agent()
    assert ua.receive(b"\x00\xff garbage", FakeFlow(), 0.0) == []
    assert ua.receive(request("ACK").replace(b"CSeq: 1 ACK", b"CSeq: x"), FakeFlow(), 0.0) == []
    assert ua.stats["malformed"] == 2


def test_calls_over_the_limit_get_486():
    ua = agent(max_calls=1)
    ringing(ua)
    events = ua.receive(request("INVITE", call_id="c2", body=OFFER), FakeFlow(), 0.1)
    assert statuses(events) == [486]


def test_digest_authentication_is_asked_for_and_accepted():
    auth = DigestAuth("pbx", "secret", "hotline")
    ua = agent(auth=auth)
    (challenge,) = sent(ua.receive(request("INVITE", body=OFFER), FakeFlow(), 0.0))
    assert challenge.status == 401
    p = parse_params(challenge.get("www-authenticate"))
    answer = digest_response("pbx", "hotline", "secret", "INVITE", "sip:hotline@10.0.0.5", p["nonce"], "auth",
                             "00000001", "cn")
    header = (f'Authorization: Digest username="pbx", realm="hotline", nonce="{p["nonce"]}", '
              f'uri="sip:hotline@10.0.0.5", response="{answer}", qop=auth, nc=00000001, cnonce="cn"\r\n')
    events = ua.receive(request("INVITE", branch="z9hG4bK2", cseq=2, body=OFFER, extra=header), FakeFlow(), 0.1)
    assert of_type(events, IncomingCall)


def test_rport_and_received_are_written_into_the_top_via():
    ua = agent()
    events = ua.receive(request("OPTIONS"), FakeFlow(addr=("10.0.0.77", 40000)), 0.0)
    via = sent(events)[0].get("via")
    assert "rport=40000" in via and "received=10.0.0.77" in via


def test_client_transaction_timers_e_and_f():
    tx = ClientTransaction("b", "BYE", b"x", reliable=False, started=0.0)
    times = []
    now = 0.0
    while not tx.done:
        now = tx.due
        if tx.on_timer(now) is TimerOutcome.RESEND:
            times.append(now)
    assert times[:4] == [T1, 3 * T1, 7 * T1, 7 * T1 + T2] and now == TIMEOUT_S
    provisional = ClientTransaction("b", "BYE", b"x", reliable=False, started=0.0)
    provisional.on_response(100)
    assert provisional.on_timer(T1) is TimerOutcome.RESEND and provisional.due == T1 + T2
    assert provisional.on_response(200) and provisional.on_timer(100.0) is TimerOutcome.WAIT
    reliable = ClientTransaction("b", "BYE", b"x", reliable=True, started=0.0)
    assert reliable.due == TIMEOUT_S and reliable.on_timer(TIMEOUT_S) is TimerOutcome.TIMED_OUT


def test_answer_retransmission_stops_on_ack():
    ok = AnswerRetransmission(started=0.0)
    assert ok.on_timer(T1) is TimerOutcome.RESEND and ok.due == 3 * T1
    ok.on_ack()
    assert ok.on_timer(3 * T1) is TimerOutcome.WAIT


def test_over_tls_the_contact_is_sips_only_where_the_caller_asked_for_sips():
    ua = agent()
    flow = FakeFlow(transport="TLS", port=5061)
    plain = ua.receive(request("INVITE", body=OFFER), flow, 0.0)
    (incoming,) = of_type(plain, IncomingCall)
    assert incoming.dialog.contact == "<sip:hotline@10.0.0.5:5061;transport=tls>"  # RFC 3261 12.1.1
    secure = request("INVITE", body=OFFER, call_id="c2").replace(b"INVITE sip:", b"INVITE sips:", 1)
    (incoming,) = of_type(ua.receive(secure, flow, 0.0), IncomingCall)
    assert incoming.dialog.contact == "<sips:hotline@10.0.0.5:5061>"
