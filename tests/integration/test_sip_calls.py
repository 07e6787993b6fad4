"""Real SIP calls: SIPp (an independent SIP implementation) calls the hotline's SIP server on loopback.

The caller's audio is a pcap built by the hotline's own code from a recorded German question (G.711
A-law or mu-law); key presses are SIPp's shipped RFC 2833 captures. A capture on ``lo`` records the RTP
both ways, so the tests check what really went over the wire. Real Silero VAD, real retrieval, real
eSpeak audio, a real SQLite store; speech recognition is a stub returning the question (as in
``test_media_streams.py``). Needs root (SIPp's pcap play and the capture use raw sockets) and SIPp,
which ``ensure_sipp`` installs with apt when it is missing. About a minute in all (calls are real time).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SPEECH
from tests.integration.test_media_streams import QUESTION, StubTranscriber
from voice.audio import load_audio
from voice.domain import AudioClip
from voice.g711 import alaw_decode, mulaw_decode
from voice.sip.capture import LoopbackCapture
from voice.sip.pcap import PCMA, PCMU, CallerAudio, write_caller_pcap
from voice.sip.rtp import parse_rtp
from voice.sip.server import SipCall, SipServer
from voice.sip.sipp import SippResult, ensure_sipp, free_port, run_sipp
from voice.stream.load_client import trim_silence

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

    def finished(self, count: int = 1, timeout: float = 15.0) -> list[SipCall]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = [c for c in self.server.finished if c.session is None or c.session.wait_closed(0)]
            if len(done) >= count:
                return done
            time.sleep(0.05)
        raise AssertionError(f"{len(self.server.finished)} calls finished, expected {count}")

    def stored(self, call: SipCall) -> dict:
        assert call.session is not None and call.session.wait_closed(10)
        return self.store.get_call(call.store_call_id)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def sipp() -> str:
    found = ensure_sipp()
    if found is None:
        pytest.skip("SIPp is missing and cannot be installed here (make sipp)")
    return found


@pytest.fixture(scope="module")
def question_clip() -> AudioClip:
    return trim_silence(load_audio(SPEECH / "leopard_test_de.wav"))


@pytest.fixture(scope="module")
def question_pcaps(tmp_path_factory, question_clip) -> dict[int, CallerAudio]:
    folder = tmp_path_factory.mktemp("pcap")
    return {codec: write_caller_pcap(folder / f"question-{codec}.pcap", question_clip, codec) for codec in (PCMA, PCMU)}


def make_hotline(settings, faq_answerer, tmp_path: Path, audio_dir: Path, **sip) -> tuple[SipServer, object, StubTranscriber]:
    from app import create_services
    from voice.storage.store import SqlCallStore
    from voice.tts.cache import CachedSynthesizer
    from voice.tts.espeak import EspeakSynthesizer

    low = 30000 + (os.getpid() % 100) * 200
    s = replace(settings, data_dir=tmp_path, audio_cache_dir=audio_dir, sip_host="127.0.0.1", sip_port=0,
                sip_rtp_ports=f"{low}-{low + 199}", **sip)
    services = create_services(s)
    services.answerer = faq_answerer
    services.synthesizer = CachedSynthesizer(EspeakSynthesizer(), audio_dir)
    transcriber = StubTranscriber()
    services.transcriber = transcriber
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
    caller = [p for p in capture.between(dst_port=call.rtp.port) if (r := parse_rtp(p.payload)) and r.ssrc == audio.ssrc]
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
