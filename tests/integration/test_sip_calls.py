"""Real SIP calls: SIPp (an independent SIP implementation) calls the hotline's SIP server on loopback.

The caller's audio is a pcap built by the hotline's own code from a recorded German question (G.711
A-law or mu-law); key presses are SIPp's shipped RFC 2833 captures. A capture on ``lo`` records the RTP
both ways, so the tests check what really went over the wire. Real Silero VAD, real retrieval, real
eSpeak audio, a real SQLite store; speech recognition is a stub returning the question (as in
``test_media_streams.py``). Needs root (SIPp's pcap play and the capture use raw sockets) and SIPp,
which ``ensure_sipp`` installs with apt when it is missing. About a minute in all (calls are real time).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import SPEECH
from tests.fakes import QUESTION, StubTranscriber, stub_asr_services
from tools.capture import LoopbackCapture
from tools.certs import throwaway_ca
from tools.load_client import trim_silence
from tools.pcap import PCMA, PCMU, CallerAudio, write_caller_pcap
from tools.sipp import SOUNDS, SippResult, ensure_sipp, free_port, run_sipp
from voice.core.domain import AudioClip
from voice.stages.audio import load_audio
from voice.stages.g711 import alaw_decode, mulaw_decode
from voice.transports.sip.call import SipCall
from voice.transports.sip.dialog import CallState
from voice.transports.sip.rtp import parse_rtp
from voice.transports.sip.server import SipServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.sip,
    pytest.mark.skipif(os.geteuid() != 0, reason="SIPp's pcap play and the loopback capture need root"),
]


@dataclass
class Hotline:
    server: SipServer
    store: object
    transcriber: StubTranscriber
    workdir: Path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def call(self, scenario: str, transport: str = "udp", **kw) -> SippResult:
        return run_sipp(scenario, self.target, transport, workdir=self.workdir, **kw)

    def finished(self, count: int = 1, timeout: float = 15.0, call_id: str | None = None) -> list[SipCall]:
        """The finished calls once there are ``count`` of them (of ``call_id`` only, where given: a call of an
        earlier test on the shared server may end late)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = [c for c in self.server.finished if (c.session is None or c.session.wait_closed(0))
                    and (call_id is None or c.dialog.call_id == call_id)]
            if len(done) >= count:
                return done
            time.sleep(0.05)
        raise AssertionError(f"{len(self.server.finished)} calls finished, expected {count}")

    def stored(self, call: SipCall) -> dict:
        """The call's stored row once its session closed. A caller who hangs up within moments of the 200 can
        end the dialog before the server starts the session: the server then stores the record ended and
        never starts one, which this accepts only for a record that really was closed."""
        if call.session is None:
            assert call.record.keeps and call.record.ended, "the call has neither a session nor an ended record"
        else:
            assert call.session.wait_closed(10)
        return self.store.get_call(call.record.id)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def sipp() -> str:
    found = ensure_sipp()
    if found is None:
        if os.environ.get("CI"):  # CI must run these tests, never pass by skipping them
            pytest.fail("SIPp is missing and could not be installed (make sipp)")
        pytest.skip("SIPp is missing and cannot be installed here (make sipp)")
    return found


@pytest.fixture(scope="module")
def question_clip() -> AudioClip:
    return trim_silence(load_audio(SPEECH / "leopard_test_de.wav"))


@pytest.fixture(scope="module")
def question_pcaps(tmp_path_factory, question_clip) -> dict[int, CallerAudio]:
    folder = tmp_path_factory.mktemp("pcap")
    return {codec: write_caller_pcap(folder / f"question-{codec}.pcap", question_clip, codec) for codec in (PCMA, PCMU)}


def make_hotline(settings, faq_answerer, tmp_path: Path, audio_dir: Path, **sip) -> tuple[SipServer, object, Any]:
    from voice.storage.store import SqlCallStore

    low = 30000 + (os.getpid() % 100) * 200
    s = replace(settings, data_dir=tmp_path, audio_cache_dir=audio_dir, sip_host="127.0.0.1", sip_port=0,
                sip_rtp_ports=f"{low}-{low + 199}", **sip)
    services, transcriber = stub_asr_services(s, faq_answerer, audio_dir)
    store = SqlCallStore(f"sqlite:///{tmp_path / 'calls.db'}", tmp_path / "spool.jsonl", b"k")
    store.warm_up()
    server = SipServer(services, store, office_open=lambda: True).start()
    return server, store, transcriber


@pytest.fixture(scope="module")
def hotline(sipp, settings, faq_answerer, tmp_path_factory) -> Iterator[Hotline]:
    tmp = tmp_path_factory.mktemp("sip")
    server, store, transcriber = make_hotline(settings, faq_answerer, tmp, tmp_path_factory.mktemp("audio"))
    yield Hotline(server, store, transcriber, tmp)
    server.stop()


def voiced_seconds(audio: np.ndarray) -> float:
    frames = audio[: len(audio) // 160 * 160].reshape(-1, 160)
    return float((np.sqrt((frames**2).mean(axis=1)) > 0.01).sum() * 0.02)


def hotline_audio(capture: LoopbackCapture, call: SipCall) -> list[tuple[float, np.ndarray]]:
    """Decoded RTP the hotline sent on this call, with capture times."""
    out = []
    for packet in capture.between(src_port=call.rtp.port):
        rtp = parse_rtp(packet.payload)
        if rtp is not None:
            decode = alaw_decode if rtp.payload_type == PCMA else mulaw_decode
            out.append((packet.at, decode(rtp.payload)))
    return out


@pytest.mark.parametrize(("transport", "codec"), [("udp", PCMA), ("tcp", PCMU)])
def test_a_whole_call_question_answer_rating_and_bye(hotline, question_pcaps, transport, codec):
    before = len(hotline.server.finished)
    audio = question_pcaps[codec]
    keys = {"question": str(audio.path), "codec_pt": str(codec), "codec_name": "PCMA" if codec == PCMA else "PCMU"}
    with LoopbackCapture() as capture:
        result = hotline.call("call_and_rate", transport, keys=keys)
    assert result.ok, result.output + result.errors
    call = hotline.finished(before + 1)[-1]
    assert call.offer is not None and call.offer.codec == codec and call.flow.transport == transport.upper()
    caller = [p for p in capture.between(dst_port=call.rtp.port)
              if (r := parse_rtp(p.payload)) and r.ssrc == audio.ssrc]
    assert len(caller) >= audio.voiced_last_s / 0.02  # the whole question arrived (the key press ends the rest)
    last_voiced = caller[0].at + audio.voiced_last_s  # the pcap is replayed at its own pace
    sent = hotline_audio(capture, call)
    answer = [(t, a) for t, a in sent if t > last_voiced]
    first = next(t for t, a in answer if np.sqrt((a**2).mean()) > 0.01)
    assert first - last_voiced < 3.0
    answer_audio = np.concatenate([a for t, a in answer if t < last_voiced + 4.0])
    assert voiced_seconds(answer_audio) > 1.0  # speech, not silence, until the caller pressed #
    gaps = np.diff([t for t, _ in sent[50:]])
    assert np.median(gaps) == pytest.approx(0.02, abs=0.004)  # paced at 20 ms
    stored = hotline.stored(call)
    assert stored["transport"] == "sip" and stored["rating"] == 4 and stored["end_reason"] == "completed"
    assert stored["caller_hash"] and "+49" not in stored["caller_hash"]
    (turn,) = stored["turns"]
    assert turn["topic"] == "aufenthaltserlaubnis-verlaengern" and turn["transcript"] == QUESTION
    assert turn["first_audio_ms"] is not None


def test_cancel_before_answer_leaves_no_call_behind(hotline):
    result = hotline.call("cancel_before_answer")
    assert result.ok, result.output + result.errors
    time.sleep(0.5)
    assert not hotline.server.calls
    cancelled = hotline.server.finished[-1]
    assert cancelled.session is None and cancelled.state is CallState.ENDED


def test_caller_hangs_up_during_the_answer(hotline, question_pcaps):
    before = len(hotline.server.finished)
    result = hotline.call("hangup_mid_answer", "tcp", keys={"question": str(question_pcaps[PCMA].path)})
    assert result.ok, result.output + result.errors
    call = hotline.finished(before + 1)[-1]
    stored = hotline.stored(call)
    assert stored["end_reason"] != "completed" and stored["rating"] is None
    assert len(stored["turns"]) == 1  # the question was answered, the caller left while it played
    assert call.rtp.sock.fileno() == -1  # the RTP port is given back


@pytest.mark.slow
def test_ten_concurrent_calls_all_complete(hotline, question_pcaps):
    before = len(hotline.server.finished)
    result = hotline.call("hangup_mid_answer", keys={"question": str(question_pcaps[PCMA].path)}, calls=10)
    assert result.ok, result.output + result.errors
    calls = hotline.finished(before + 10, timeout=30)[-10:]
    assert len({c.call_id for c in calls}) == 10
    for call in calls:
        stored = hotline.stored(call)
        assert stored["transport"] == "sip" and len(stored["turns"]) == 1
    assert not hotline.server.calls


def test_a_peer_outside_the_allow_list_is_refused(hotline):
    rejected = hotline.server.stats["rejected"]
    result = hotline.call("rejected", local_ip="127.0.0.2")
    assert result.ok, result.output + result.errors
    assert hotline.server.stats["rejected"] > rejected and not hotline.server.calls


def _request(method: str = "INVITE", call_id: str = "m1", body: bytes = b"", extra: str = "",
             content_type: str = "application/sdp", length: int | None = None) -> bytes:
    head = (
        f"{method} sip:hotline@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK{call_id}\r\n"
        f"From: <sip:x@127.0.0.1>;tag=a{call_id}\r\nTo: <sip:hotline@127.0.0.1>\r\nCall-ID: {call_id}\r\n"
        f"CSeq: 1 {method}\r\nContact: <sip:x@127.0.0.1:5999>\r\nMax-Forwards: 70\r\n{extra}"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body) if length is None else length}\r\n\r\n"
    )
    return head.encode() + body


GOOD_SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
MALFORMED: list[tuple[str, bytes, int | None]] = [  # (what, bytes, expected status; None: dropped)
    ("empty garbage", b"\x00\x01\x02garbage", None),
    ("HTTP request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", None),
    ("truncated headers", _request()[:60], None),
    ("no blank line", _request().rstrip(b"\r\n"), 400),
    ("bad CSeq", _request().replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE"), None),
    ("CSeq method mismatch", _request().replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"), 400),
    ("header without colon", _request(extra="Broken header line\r\n"), 400),
    ("missing Call-ID", _request().replace(b"Call-ID: m1\r\n", b""), None),
    ("bad Content-Length", _request(length=-5), 400),
    ("body shorter than Content-Length", _request(body=GOOD_SDP, length=900), 400),
    ("unclosed address", _request().replace(b"From: <sip:x@127.0.0.1>", b"From: <sip:x@127.0.0.1"), 400),
    ("SIP/3.0", _request().replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), 505),
    ("no SDP version", _request(body=b"o=- 1 1 IN IP4 127.0.0.1\r\n"), 400),
    ("SDP without audio", _request(body=GOOD_SDP.replace(b"m=audio", b"m=video")), 488),
    ("SDP with only G.729", _request(body=GOOD_SDP.replace(b"RTP/AVP 0", b"RTP/AVP 18")), 488),
    ("SDP garbage line", _request(body=GOOD_SDP + b"this is not sdp\r\n"), 400),
    ("SDP bad port", _request(body=GOOD_SDP.replace(b"4000", b"99999")), 400),
    ("SRTP only", _request(body=GOOD_SDP.replace(b"RTP/AVP", b"RTP/SAVP")), 488),
    ("not SDP", _request(body=b"hello", content_type="text/plain"), 415),
    ("huge body", _request(body=b"v=0\r\n" + b"a=x\r\n" * 20000), 413),
    ("BYE for no call", _request("BYE", "nocall"), 481),
    ("known method not served", _request("PUBLISH", "pub"), 405),
    ("unknown method", _request("FROBNICATE", "frob"), 501),
    ("methods are case-sensitive", _request("invite", "lower"), 501),
    ("unsupported extension required", _request(call_id="req", body=GOOD_SDP, extra="Require: 100rel, foo\r\n"), 420),
    ("unsupported URI scheme", _request().replace(b"INVITE sip:hotline@127.0.0.1", b"INVITE mailto:h@127.0.0.1"), 416),
    ("space after the version", _request().replace(b"SIP/2.0\r\n", b"SIP/2.0 \r\n", 1), 400),
    ("two Call-IDs", _request(extra="Call-ID: other\r\n"), 400),
    ("two Content-Lengths", _request(extra="Content-Length: 0\r\n", body=GOOD_SDP), 400),
    ("binary headers", b"INVITE sip:x@y SIP/2.0\r\nVia: \xff\xfe\r\n\r\n", None),
]


STREAM_INCOMPLETE = ("no blank line", "body shorter than Content-Length")


def _status(reply: bytes) -> int | None:
    return int(reply[8:11]) if reply.startswith(b"SIP/2.0 ") else None


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_malformed_messages_are_answered_or_dropped_and_the_next_call_works(hotline, question_pcaps, transport):
    errors = hotline.server.stats["errors"]
    for what, data, expected in MALFORMED:
        if transport == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(0.3)
                sock.sendto(data[:65000], ("127.0.0.1", hotline.server.port))
                replies = []
                try:
                    while True:
                        replies.append(sock.recv(65535))
                except TimeoutError:
                    pass
        else:
            with socket.create_connection(("127.0.0.1", hotline.server.port), timeout=1) as sock:
                sock.settimeout(0.3)
                sock.sendall(data if expected is not None or data.endswith(b"\r\n\r\n") else data + b"\r\n\r\n")
                replies = []
                try:
                    while chunk := sock.recv(65535):
                        replies.append(chunk)
                except (TimeoutError, ConnectionResetError):
                    pass
        statuses = [int(code) for code in re.findall(rb"SIP/2\.0 (\d{3}) ", b"".join(replies))]
        finals = [s for s in statuses if s >= 200]
        if transport == "tcp" and what in STREAM_INCOMPLETE:
            expected = None  # on a stream these are not malformed, just not finished yet
        if expected is None:
            assert finals == [], what
        else:
            assert finals == [expected], f"{what}: {statuses}"
    assert hotline.server.stats["errors"] == errors  # nothing reached the catch-all
    assert not hotline.server.calls
    before = len(hotline.server.finished)
    result = hotline.call("hangup_mid_answer", transport, keys={"question": str(question_pcaps[PCMU].path),
                                                                "codec_pt": "0", "codec_name": "PCMU"})
    assert result.ok, result.output + result.errors
    assert hotline.stored(hotline.finished(before + 1)[-1])["transport"] == "sip"


class RawPeer:
    """A SIP peer written out by hand, to send what SIPp's scenarios cannot (header order, reused Call-IDs)."""

    def __init__(self, hotline: Hotline, transport: str, tls: ssl.SSLContext | None = None) -> None:
        self.transport = transport
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.settimeout(5)
        if tls is not None:
            self.sock.connect(("127.0.0.1", hotline.server.tls_port))
            self.sock = tls.wrap_socket(self.sock, server_hostname="127.0.0.1")
        else:
            self.sock.connect(("127.0.0.1", hotline.server.port))
        self.port = self.sock.getsockname()[1]
        self.pending = b""

    def send(self, data: bytes) -> None:
        self.sock.send(data) if self.transport == "udp" else self.sock.sendall(data)

    def replies_until(self, method: str = "INVITE") -> list[bytes]:
        """Responses up to the first final one to a request of ``method``."""
        out: list[bytes] = []
        while True:
            if self.transport == "udp":
                out.append(self.sock.recv(65535))  # one datagram, one message
            else:
                while b"\r\n\r\n" not in self.pending:
                    self.pending += self.sock.recv(65535)
                head, _, rest = self.pending.partition(b"\r\n\r\n")
                length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
                out.append(head + b"\r\n\r\n" + rest[:length])
                self.pending = rest[length:]
            if (_status(out[-1]) or 0) >= 200 and re.search(rf"CSeq: \d+ {method}\r\n".encode(), out[-1]):
                return out

    def dialog(self, call_id: str, tag: str, branch: str, length_first: bool) -> tuple[bytes, list[bytes]]:
        """INVITE (Content-Length first or last among the headers), then the replies up to the final one."""
        via = f"Via: SIP/2.0/{self.transport.upper()} 127.0.0.1:{self.port};branch=z9hG4bK{branch}\r\n"
        length = f"Content-Length: {len(GOOD_SDP)}\r\n"
        headers = (
            f"From: <sip:x@127.0.0.1>;tag={tag}\r\nTo: <sip:hotline@127.0.0.1>\r\nCall-ID: {call_id}\r\n"
            f"CSeq: 1 INVITE\r\nContact: <sip:x@127.0.0.1:{self.port};transport={self.transport}>\r\n"
            "Max-Forwards: 70\r\nContent-Type: application/sdp\r\n"
        )
        head = via + (length + headers if length_first else headers + length)
        invite = f"INVITE sip:hotline@127.0.0.1 SIP/2.0\r\n{head}\r\n".encode() + GOOD_SDP
        self.send(invite)
        return invite, self.replies_until()

    def in_dialog(self, invite: bytes, ok: bytes, method: str, cseq: int, body: str = "",
                  content_type: str = "") -> None:
        """Send ``method`` inside the dialog that ``ok`` (the 200 to ``invite``) established."""
        to = re.search(rb"\r\nTo: ([^\r]+)", ok).group(1).decode()  # type: ignore[union-attr]
        text = invite.split(b"\r\n\r\n")[0].decode()
        common = re.sub(r"\r\nTo: [^\r]+", f"\r\nTo: {to}", text).replace("Content-Type: application/sdp\r\n", "")
        common = re.sub(r"Content-Length: \d+\r\n", "", common + "\r\n")
        msg = common.replace("INVITE sip:", f"{method} sip:").replace("CSeq: 1 INVITE", f"CSeq: {cseq} {method}")
        msg = re.sub(r"branch=z9hG4bK(\w+)", rf"branch=z9hG4bK\g<1>{method.lower()}{cseq}", msg, count=1)
        kind = f"Content-Type: {content_type}\r\n" if content_type else ""
        self.send(f"{msg}{kind}Content-Length: {len(body.encode())}\r\n\r\n{body}".encode())

    def ack_and_bye(self, invite: bytes, ok: bytes) -> int | None:
        self.in_dialog(invite, ok, "ACK", 1)
        self.in_dialog(invite, ok, "BYE", 2)
        return _status(self.replies_until("BYE")[-1])

    def request_until(self, method: str, timeout: float = 15.0) -> bytes:
        """The next request of ``method`` the hotline sends (responses and other requests are skipped)."""
        assert self.transport == "udp"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                continue
            if data.startswith(f"{method} ".encode()):
                return data
        raise AssertionError(f"no {method} from the hotline")

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_content_length_before_other_headers_makes_a_call_and_a_reused_call_id_makes_another(hotline, transport):
    errors = hotline.server.stats["errors"]
    peer = RawPeer(hotline, transport)
    try:
        call_id = f"reuse-{transport}-{os.getpid()}"
        invite, replies = peer.dialog(call_id, "t1", "first", length_first=True)
        assert [_status(r) for r in replies][-1] == 200, replies[-1][:200]
        assert b"m=audio" in replies[-1]  # the SDP answer: the offer's body was framed as a body
        assert peer.ack_and_bye(invite, replies[-1]) == 200
        hotline.finished(1, call_id=call_id)
        # the same Call-ID again, a new dialog (a new tag), after the first call ended: a new call, not 500
        invite, replies = peer.dialog(call_id, "t2", "second", length_first=True)
        assert _status(replies[-1]) == 200, replies[-1][:200]
        # and a merged copy of that INVITE by another path while the call is live: 482, the call goes on
        copy = invite.replace(b"branch=z9hG4bKsecond", b"branch=z9hG4bKmerged")
        peer.send(copy)
        assert _status(peer.replies_until()[-1]) == 482
        # a second dialog on the same Call-ID at the same time (another From tag): a call of its own
        third_invite, third = peer.dialog(call_id, "t3", "third", length_first=False)
        assert _status(third[-1]) == 200, third[-1][:200]
        assert peer.ack_and_bye(third_invite, third[-1]) == 200
        assert peer.ack_and_bye(invite, replies[-1]) == 200
        calls = hotline.finished(3, call_id=call_id)
    finally:
        peer.close()
    stored = [hotline.stored(c) for c in calls]
    assert len({s["id"] for s in stored}) == 3 and all(s["transport"] == "sip" for s in stored)
    assert sorted(s["external_id"] for s in stored) == [call_id, f"{call_id}#2", f"{call_id}#3"]
    assert hotline.server.stats["errors"] == errors


def test_sip_info_keys_reach_the_call_and_zero_hands_over_by_refer(hotline):
    """Keys sent as SIP INFO (application/dtmf-relay, as many PBXs do) reach the call like RFC 4733
    events: 0 asks for a person, and the hotline transfers by REFER; an INFO body it cannot read gets
    415 with the types it accepts, and the call goes on."""
    peer = RawPeer(hotline, "udp")
    try:
        invite, replies = peer.dialog(f"info-{os.getpid()}", "i1", "info1", length_first=False)
        ok = replies[-1]
        assert _status(ok) == 200
        peer.in_dialog(invite, ok, "ACK", 1)  # keys at once: they must not overtake the start of the call
        peer.in_dialog(invite, ok, "INFO", 2, "<dtmf>5</dtmf>", "application/xml")
        unreadable = peer.replies_until("INFO")[-1]
        assert _status(unreadable) == 415 and b"application/dtmf-relay" in unreadable
        peer.in_dialog(invite, ok, "INFO", 3, "Signal=0\r\nDuration=160\r\n", "application/dtmf-relay")
        assert _status(peer.replies_until("INFO")[-1]) == 200
        refer = peer.request_until("REFER", timeout=30)
        assert re.search(rb"\r\nRefer-To: <sip:[^>]*\?X-Hotline-Language=de", refer, re.I), refer[:400]
        peer.in_dialog(invite, ok, "BYE", 4)
        assert _status(peer.replies_until("BYE")[-1]) == 200
    finally:
        peer.close()
    deadline = time.monotonic() + 15
    while any(c.call_id == f"info-{os.getpid()}" for c in list(hotline.server.calls.values())):
        assert time.monotonic() < deadline, "the call did not end after BYE"
        time.sleep(0.05)


def test_an_overloaded_hotline_answers_503_with_retry_after_and_takes_the_next_call(hotline):
    """Admission control over SIP: while a question would wait past the budget, an INVITE gets 503 with
    Retry-After (a proxy can try another node) and the refusal is stored; the next call is taken."""
    runtime = hotline.server.services.runtime
    runtime.scheduler.stage_s = 1.0  # a recogniser measured at 1 s a question
    gate = threading.Event()
    ahead = 3 * runtime.scheduler.slots  # 3 s of work ahead, whatever the slots
    busy = [runtime.scheduler.submit(lambda: gate.wait(10)) for _ in range(ahead)]
    before, refused, live = len(hotline.server.finished), runtime.refused["wait"], runtime.live_calls()
    peer = RawPeer(hotline, "udp")
    try:
        _, replies = peer.dialog(f"busy-{os.getpid()}", "b1", "busy1", length_first=False)
        assert _status(replies[-1]) == 503 and b"\r\nRetry-After: 30\r\n" in replies[-1], replies[-1][:300]
        assert runtime.refused["wait"] == refused + 1
        assert not any(c.call_id.startswith("busy-") for c in list(hotline.server.calls.values()))
        gate.set()
        assert all(t.future.result(timeout=5) for t in busy)
        invite, replies = peer.dialog(f"busy-{os.getpid()}-2", "b2", "busy2", length_first=False)
        assert _status(replies[-1]) == 200
        assert peer.ack_and_bye(invite, replies[-1]) == 200
        hotline.finished(before + 1)
    finally:
        gate.set()
        peer.close()
    stored = [hotline.store.get_call(i) for i in hotline.store.list_calls()]
    assert any(c["end_reason"] == "busy" and c["transport"] == "sip" and not c["turns"] for c in stored)
    assert runtime.live_calls() == live


def test_a_call_over_tls_is_answered_with_a_tls_contact(sipp, settings, faq_answerer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    ca, cert, key = throwaway_ca(folder)
    server, store, transcriber = make_hotline(settings, faq_answerer, folder, tmp_path_factory.mktemp("audio"),
                                              sip_tls_port=0, sip_tls_cert=str(cert), sip_tls_key=str(key))
    line = Hotline(server, store, transcriber, folder)
    try:
        assert server.tls_port > 0
        with socket.create_connection(("127.0.0.1", server.tls_port), timeout=5) as plain:  # no handshake
            plain.sendall(_request("OPTIONS", "plain"))
            plain.settimeout(12)
            with contextlib.suppress(ConnectionResetError):
                assert plain.recv(65535) == b""  # closed without a SIP answer in clear
        client = ssl.create_default_context(cafile=str(ca))
        peer = RawPeer(line, "tls", tls=client)
        try:
            invite, replies = peer.dialog("tls-call", "t1", "tls1", length_first=False)
            ok = replies[-1]
            assert _status(ok) == 200 and b"m=audio" in ok, ok[:300]
            contact = rb"Contact: <sip:hotline@127\.0\.0\.1:%d;transport=tls>" % server.tls_port  # sip: asked
            assert re.search(contact, ok), ok[:400]
            assert peer.ack_and_bye(invite, ok) == 200
        finally:
            peer.close()
        stored = line.stored(line.finished(1)[-1])
        assert stored["transport"] == "sip" and stored["external_id"] == "tls-call"
        assert server.stats["errors"] == 0
    finally:
        server.stop()


def test_options_keepalive_is_answered(hotline):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(_request("OPTIONS", "opt1"), ("127.0.0.1", hotline.server.port))
        reply = sock.recv(65535)
    assert _status(reply) == 200 and b"INVITE" in reply and b"Allow:" in reply


def test_free_port_helper_gives_a_bindable_port():
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", port))


@pytest.mark.parametrize(("key", "choice"), [("1", "details"), ("3", "repeat")])
def test_the_short_answers_menu_over_sip_details_or_again(hotline, question_pcaps, key, choice):
    """The short answer's menu over SIP with RFC 4733 keys: 1 for the details or 3 to hear it again, then #
    and a rating."""
    before = len(hotline.server.finished)
    keys = {"question": str(question_pcaps[PCMA].path), "press1": str(SOUNDS / f"dtmf_2833_{key}.pcap"),
            "press2": str(SOUNDS / "dtmf_2833_pound.pcap"), "press3": str(SOUNDS / "dtmf_2833_4.pcap")}
    result = hotline.call("details_then_rate", keys=keys)
    assert result.ok, result.output + result.errors
    stored = hotline.stored(hotline.finished(before + 1)[-1])
    assert stored["rating"] == 4 and stored["end_reason"] == "completed"
    (turn,) = stored["turns"]
    assert turn["topic"] == "aufenthaltserlaubnis-verlaengern" and turn["followups"] == choice
    assert turn["sms_status"] is None  # an untrusted PBX: the number is not used, no SMS was offered


def test_two_after_the_short_answer_sends_the_written_answer_from_a_trusted_pbx(
        sipp, settings, faq_answerer, tmp_path_factory, question_pcaps):
    """A PBX trusted to assert the caller's number: "2" sends the written answer by SMS to that number
    (Twilio's Messaging API played by a local server), the caller hears that it was sent, then rates."""
    from tests.fakes import FakeMessagingApi, messaging_api

    tmp = tmp_path_factory.mktemp("sip-sms")
    with messaging_api() as api:
        server, store, transcriber = make_hotline(
            settings, faq_answerer, tmp, tmp_path_factory.mktemp("audio-sms"), sip_trusted_pbx=True,
            sms_from="+4930901820", twilio_account_sid="AC" + "0" * 32, twilio_auth_token="sms-token",
            sms_api_url=api)
        try:
            hotline = Hotline(server, store, transcriber, tmp)
            keys = {"question": str(question_pcaps[PCMA].path), "press1": str(SOUNDS / "dtmf_2833_2.pcap"),
                    "press2": str(SOUNDS / "dtmf_2833_pound.pcap"), "press3": str(SOUNDS / "dtmf_2833_4.pcap")}
            result = hotline.call("sms_then_rate", keys=keys)  # From: the caller +4915112345678
            assert result.ok, result.output + result.errors
            stored = hotline.stored(hotline.finished(1)[-1])
        finally:
            server.stop()
    assert stored["rating"] == 4 and stored["end_reason"] == "completed"
    (turn,) = stored["turns"]
    assert turn["topic"] == "aufenthaltserlaubnis-verlaengern" and turn["followups"] == "text"
    assert turn["sms_status"] == "sent" and turn["sms_segments"] >= 1
    (sent,) = FakeMessagingApi.requests
    assert sent["form"]["To"] == "+4915112345678" and sent["form"]["From"] == "+4930901820"
    assert "AufenthG" in sent["form"]["Body"]
    assert "4915112345678" not in str(stored)  # the number is used to send, never stored
