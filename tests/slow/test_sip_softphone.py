"""A real softphone calls the hotline: baresip 1.0 (Debian's package) against ``python app.py sip``.

baresip dials the hotline over UDP with G.711; its ``sndfile`` module writes what it hears to WAV files
(until a hold: it does not resume the recording, so what the hotline sends after a resume is read from a
capture on ``lo``, which needs root like the SIPp tests).
The hotline runs as in production, in its own process (real Whisper, retrieval, eSpeak, SQLite). baresip
is driven through its ``ctrl_tcp`` module: keys go as RFC 4733 telephone events (``sndcode``), hold and
resume as re-INVITEs, a hand-over comes back as REFER, which baresip follows by calling the target.
Whole question-and-answer calls from baresip and linphone are in ``test_sip_whole_calls.py``. About 15 s
per test.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.softphones import Baresip, Hotline, ensure_phone, voiced_frames, voiced_seconds, wait_for, write_wav
from tools.capture import LoopbackCapture
from tools.certs import throwaway_ca
from voice.stages.g711 import mulaw_decode
from voice.transports.sip.rtp import parse_rtp

pytestmark = [
    pytest.mark.slow,
    pytest.mark.sip,
    pytest.mark.skipif(os.geteuid() != 0, reason="the loopback capture (and installing baresip) needs root"),
]


@pytest.fixture(scope="module")
def silence(tmp_path_factory) -> Path:
    """The softphone's microphone: silence for longer than a call lasts (baresip hangs up when it ends)."""
    return write_wav(tmp_path_factory.mktemp("audio") / "silence.wav", np.zeros(8000 * 45))


@pytest.fixture()
def line(silence, tmp_path_factory) -> Iterator[Callable[..., tuple[Hotline, Baresip]]]:
    ensure_phone("baresip", "baresip")
    started: list[Any] = []

    def start(office_open: bool = False, transfer_uri: str = "", srtp: str = "optional",
              mediaenc: str = "", tls: bool = False) -> tuple[Hotline, Baresip]:
        folder = tmp_path_factory.mktemp("softphone")
        ca, cert, key = throwaway_ca(folder) if tls else (None, None, None)
        hotline = Hotline(folder, office_open, transfer_uri, srtp, (cert, key) if tls else None)
        started.append(hotline)
        (folder / "phone").mkdir()
        phone = Baresip(folder / "phone", silence, mediaenc, ca)
        started.append(phone)
        return hotline, phone

    yield start
    for thing in reversed(started):
        thing.stop()


def test_a_softphone_hears_the_greeting_holds_resumes_and_its_keys_and_bye_arrive(line):
    hotline, phone = line(office_open=True)
    with LoopbackCapture() as capture:  # what the hotline sent, whatever the softphone made of it
        phone.command("dial", f"sip:hotline@127.0.0.1:{hotline.port}")
        phone.wait_log("Call established", 15)
        time.sleep(4.0)  # the greeting plays
        phone.command("hold")  # re-INVITE with a=sendonly
        wait_for(lambda: "on hold" in hotline.log(), 10, "the hotline to see the hold")
        held_at = time.monotonic()
        time.sleep(1.0)
        phone.command("resume")  # re-INVITE with a=sendrecv: the call goes on
        resumed_at = time.monotonic()
        time.sleep(4.0)
        phone.command("sndcode", "#")  # RFC 4733 telephone events
        phone.command("sndcode", "9")
        wait_for(lambda: "pressed 9" in hotline.log(), 10, "the keys")
        phone.command("hangup")  # BYE
        phone.wait_log("audio: destroyed", 10)  # the dump of what it heard is complete
    sent = [
        (p.at, mulaw_decode(r.payload))
        for p in capture.packets
        if p.src[1] in hotline.rtp_ports and (r := parse_rtp(p.payload)) is not None and r.payload_type == 0
    ]
    during_hold = [t for t, _ in sent if held_at + 0.3 < t < resumed_at - 0.1]
    after = np.concatenate([a for t, a in sent if resumed_at + 0.5 < t < resumed_at + 3.5])
    assert not during_hold  # on hold, the hotline sends nothing
    assert voiced_seconds(after) > 1.0  # after the resume it talks again
    call_id, _, end_reason = wait_for(lambda: hotline.last_call()[2] and hotline.last_call(), 15, "the call's end")
    assert end_reason.startswith("hangup"), end_reason
    log = hotline.log()
    assert "on hold" in log and "media updated" in log  # both re-INVITEs answered
    assert "pressed #" in log and "the caller hung up" in log
    heard = voiced_frames(phone.heard())
    assert heard[:200].sum() > 100, len(heard)  # the greeting reached the softphone as speech over RTP


def test_a_hand_over_is_a_refer_that_the_softphone_follows(line):
    target = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # stands in for the office's staff phone
    target.bind(("127.0.0.1", 0))
    target.settimeout(20)
    try:
        hotline, phone = line(office_open=True, transfer_uri=f"sip:staff@127.0.0.1:{target.getsockname()[1]}")
        phone.command("dial", f"sip:hotline@127.0.0.1:{hotline.port}")
        phone.wait_log("Call established", 15)
        time.sleep(3.0)
        phone.command("sndcode", "0")  # a person, please
        invite = target.recv(65535).decode(errors="replace")  # baresip, told by REFER, calls the target
        assert invite.startswith("INVITE sip:staff@127.0.0.1"), invite[:200]
        phone.wait_log("transferring call", 5)
        _, rating, end_reason = wait_for(lambda: hotline.last_call()[2] and hotline.last_call(), 20, "the end")
        assert end_reason == "transferred" and rating is None
        assert "transfer to sip:staff@127.0.0.1" in hotline.log()
    finally:
        target.close()


def test_tls_and_srtp_with_a_softphone_encrypted_both_ways_and_plain_rtp_refused_when_required(line):
    """baresip over SIP/TLS (checking the hotline's certificate against a throw-away CA) with SDES-SRTP (its
    srtp module, mediaenc=srtp-mand) against a hotline that requires SRTP."""
    hotline, phone = line(srtp="required", mediaenc="srtp-mand", tls=True)
    with LoopbackCapture() as capture:
        phone.command("dial", f"sip:hotline@127.0.0.1:{hotline.tls_port};transport=tls")
        phone.wait_log("Call established", 15)
        time.sleep(4.0)  # the greeting plays, encrypted
        phone.command("sndcode", "9")  # a telephone event inside SRTP
        wait_for(lambda: "pressed 9" in hotline.log(), 10, "the key through SRTP")
        phone.command("hangup")
        phone.wait_log("audio: destroyed", 10)
    ours = [p.payload for p in capture.packets if p.src[1] in hotline.rtp_ports]
    assert len(ours) > 100
    assert all(len(payload) == 12 + 160 + 10 for payload in ours)  # header, payload, 80-bit auth tag
    as_plain = [mulaw_decode(r.payload) for payload in ours if (r := parse_rtp(payload)) is not None]
    assert voiced_frames(np.concatenate(as_plain)).mean() > 0.95  # read as plain G.711: noise, no pauses
    heard = voiced_frames(phone.heard())
    assert heard[:200].sum() > 100, len(heard)  # the softphone decrypted the greeting: speech
    assert re.search(r"srtp|SRTP", phone.log())
    assert not capture.between(dst_port=hotline.port)  # no signalling over plain UDP: the call went over TLS

    (phone.folder.parent / "plain").mkdir()
    plain = Baresip(phone.folder.parent / "plain", phone.microphone)
    try:
        plain.command("dial", f"sip:hotline@127.0.0.1:{hotline.port}")
        plain.wait_log("488", 15)  # Not Acceptable Here: this hotline requires SRTP
    finally:
        plain.stop()
