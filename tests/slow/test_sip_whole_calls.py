"""Whole calls from real softphones: a spoken question, the answer heard, keys, the rating stored.

baresip 1.0 (keys as RFC 4733 telephone events, and digest authentication answered with its account's
credentials) and linphone-cli 5.1 (keys as SIP INFO) call ``python app.py sip`` (real Whisper, retrieval,
eSpeak NG, SQLite). The question is a WAV file the softphone plays as its microphone: a German question
spoken by eSpeak NG (no recording of a caller's immigration question is available to the project; eSpeak
is the harder input for the recogniser). It starts over the greeting, as callers do. When the hotline asks
"is your question about …?" the caller confirms with 1, as a caller would; then it listens to the answer,
presses # and rates 4. The hotline keeps its side of each turn (``HOTLINE_RECORD_ANSWERS``): what the
softphone heard must contain that recording of the answer (cross-correlation after G.711 both ways), and
the caller's recording must be the question it played. About 40 s per test; root for the capture and for
installing the softphones.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pytest

from tests.softphones import (
    Baresip,
    Hotline,
    Linphone,
    best_match,
    ensure_phone,
    read_wav,
    voiced_seconds,
    wait_for,
    write_wav,
)
from tools.capture import LoopbackCapture
from tools.load_client import trim_silence
from voice.stages.g711 import alaw_decode, mulaw_decode
from voice.transports.sip.rtp import parse_rtp

PCMU, PCMA = 0, 8

pytestmark = [
    pytest.mark.slow,
    pytest.mark.sip,
    pytest.mark.skipif(os.geteuid() != 0, reason="the loopback capture (and installing the softphones) needs root"),
]

QUESTION = "Wie kann ich meine Aufenthaltserlaubnis verlängern?"
TOPIC = "aufenthaltserlaubnis-verlaengern"
DIGEST = ("office-pbx", "digest-s3cret")
KEEP_BOTH_SIDES = {"HOTLINE_RECORD_CALLS": "true", "HOTLINE_RECORD_ANSWERS": "true"}


class Phone(Protocol):
    def press(self, key: str) -> None: ...
    def wait_ended(self, timeout: float) -> None: ...
    def heard(self) -> np.ndarray: ...


@pytest.fixture(scope="module")
def question(tmp_path_factory) -> tuple[Path, float]:
    """The question as a WAV file: half a second of silence, the question, then a minute of silence (a
    softphone hangs up when its file ends). Also how long the question is."""
    from voice.stages.tts.espeak import EspeakSynthesizer

    spoken = trim_silence(EspeakSynthesizer().synthesize(QUESTION, "de").audio)
    samples = np.concatenate([np.zeros(4000), spoken.samples, np.zeros(8000 * 60)])
    return write_wav(tmp_path_factory.mktemp("question") / "question.wav", samples), spoken.duration_s


@pytest.fixture()
def started(tmp_path) -> Iterator[list[Any]]:
    things: list[Any] = []
    yield things
    for thing in reversed(things):
        thing.stop()


def converse(hotline: Hotline, phone: Phone) -> dict[str, Any]:
    """Confirm if asked, listen to the answer, press # and 4; the stored call once the hotline hung up."""
    deadline = time.monotonic() + 60
    confirmed = False
    while not re.search(r"turn 1: (answer|confirm)", hotline.log()):
        assert time.monotonic() < deadline, hotline.log()[-4000:]
        if not confirmed and "plays topic_confirm" in hotline.log():
            time.sleep(1.0)  # a caller starts to listen to the question, then presses
            phone.press("1")
            confirmed = True
        if re.search(r"turn 1: handover|plays (repeat|retry)", hotline.log()):
            raise AssertionError(f"the question was not understood:\n{hotline.log()[-4000:]}")
        time.sleep(0.2)
    time.sleep(6.0)  # the answer plays
    phone.press("#")  # enough: the rating, please
    time.sleep(2.0)
    phone.press("4")
    call_id, rating, end_reason = wait_for(lambda: hotline.last_call()[2] and hotline.last_call(), 30, "the end")
    phone.wait_ended(15)  # the hotline said goodbye and hung up
    (turn,) = hotline.turns(call_id)
    return {"rating": rating, "end_reason": end_reason, "turn": turn, "confirmed": confirmed}


def sides(capture: LoopbackCapture, hotline: Hotline) -> tuple[float, np.ndarray, np.ndarray]:
    """From the capture: when the caller's question ended, and what the hotline sent before and after."""
    caller, sent = [], []
    for p in capture.packets:
        rtp = parse_rtp(p.payload)
        if rtp is None or rtp.payload_type not in (PCMU, PCMA):
            continue
        audio = (mulaw_decode if rtp.payload_type == PCMU else alaw_decode)(rtp.payload)
        if p.dst[1] in hotline.rtp_ports:
            caller.append((p.at, audio))
        elif p.src[1] in hotline.rtp_ports:
            sent.append((p.at, audio))
    ended = max(t for t, a in caller if np.sqrt((a**2).mean()) > 0.01)
    before = np.concatenate([a for t, a in sent if t <= ended])
    after = np.concatenate([a for t, a in sent if t > ended])
    return ended, before, after


def check_call(stored: dict[str, Any], heard: np.ndarray, capture: LoopbackCapture, hotline: Hotline,
               question: tuple[Path, float]) -> None:
    turn = stored["turn"]
    assert stored["rating"] == 4 and stored["end_reason"] == "completed", stored
    assert turn["topic"] == TOPIC and turn["outcome"] in ("answer", "confirm"), turn
    assert (turn["outcome"] == "confirm") == stored["confirmed"] and turn["confirm_choice"] in (None, "1"), turn
    assert "aufenthalt" in turn["transcript"].lower(), turn["transcript"]
    # what the hotline said (its own recording, before G.711), three 1-second pieces of the first 6 s: the
    # recording joins the answer's parts with pauses of its own, so longer pieces may straddle one
    answer = read_wav(Path(turn["answer_audio_path"]))
    pieces = [answer[int(s * 8000) : int((s + 1) * 8000)] for s in (0.2, 2.5, 4.5)]
    _, before, after = sides(capture, hotline)
    assert sum(best_match(p, after) > 0.9 for p in pieces) >= 2  # sent after the question ...
    assert all(best_match(p, before) < 0.5 for p in pieces)  # ... and not before
    assert voiced_seconds(heard) > 6.0
    # and the softphone decoded it: its jitter buffer stretches time under load (linphone's more than
    # baresip's), so here quarter seconds, of which at least three must match closely (parts of the answer
    # that were never played match at most about 0.7)
    quarters = [answer[int(s * 8000) : int((s + 0.25) * 8000)] for s in np.arange(0.2, 6.0, 0.6)]
    matches = [round(best_match(p, heard), 2) for p in quarters]
    assert sum(m > 0.85 for m in matches) >= 3, matches
    recording, question_s = question
    played = read_wav(recording)[8000 : 4000 + int(question_s * 8000)]
    assert best_match(played, read_wav(Path(turn["audio_path"]))) > 0.9  # the caller's recording: the question
    for path in (turn["audio_path"], turn["answer_audio_path"]):  # recordings go to the hotline's data folder
        Path(path).unlink()


def test_baresip_asks_authenticates_hears_the_answer_and_rates_with_rfc4733_keys(question, started, tmp_path):
    ensure_phone("baresip", "baresip")
    recording, _ = question
    hotline = Hotline(tmp_path, office_open=True, digest=DIGEST, **KEEP_BOTH_SIDES)  # every INVITE is challenged
    started.append(hotline)
    (tmp_path / "phone").mkdir()
    phone = Baresip(tmp_path / "phone", recording, digest=DIGEST)
    started.append(phone)
    with LoopbackCapture() as capture:
        phone.dial(f"sip:hotline@127.0.0.1:{hotline.port}")
        stored = converse(hotline, phone)
    check_call(stored, phone.heard(), capture, hotline, question)
    to_hotline = [p.payload for p in capture.between(dst_port=hotline.port)]
    invites = [m for m in to_hotline if m.startswith(b"INVITE ")]
    assert len(invites) == 2 and b"Authorization: Digest" in invites[1]  # challenged, then answered
    assert not any(m.startswith(b"INFO ") for m in to_hotline)
    events = [r for p in capture.packets if p.dst[1] in hotline.rtp_ports
              and (r := parse_rtp(p.payload)) is not None and r.payload_type not in (0, 8)]
    assert events  # the keys went as RFC 4733 telephone events in the RTP stream


def test_linphone_asks_hears_the_answer_and_rates_with_sip_info_keys(question, started, tmp_path):
    ensure_phone("linphonec", "linphone-cli")
    recording, _ = question
    hotline = Hotline(tmp_path, office_open=True, **KEEP_BOTH_SIDES)
    started.append(hotline)
    (tmp_path / "phone").mkdir()
    phone = Linphone(tmp_path / "phone")
    started.append(phone)
    with LoopbackCapture() as capture:
        phone.dial(f"sip:hotline@127.0.0.1:{hotline.port}")
        phone.say(recording)
        stored = converse(hotline, phone)
    check_call(stored, phone.heard(), capture, hotline, question)
    infos = [p.payload for p in capture.between(dst_port=hotline.port) if p.payload.startswith(b"INFO ")]
    pressed = [re.search(rb"Signal=\s*(\S)", m) for m in infos]
    assert [s.group(1) for s in pressed if s][-2:] == [b"#", b"4"], infos  # keys as SIP INFO (dtmf-relay)
