"""Real-time calls over a real WebSocket: the hotline in Media Streams mode against a simulated Twilio.

A real threaded HTTP server runs the app; ``StreamCaller`` speaks Twilio's protocol with real recorded
speech in real time. Real Silero VAD (endpointing, barge-in), real retrieval, real eSpeak audio and a
real SQLite store; speech recognition is a stub that returns the question the caller "said" (Whisper
runs in the slow test of this transport, ``tests/slow/test_stream_real.py``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from werkzeug.serving import make_server

from tests.conftest import SPEECH
from tests.fakes import QUESTION, StubTranscriber, said, stub_asr_services
from tools.load_client import StreamCaller, trim_silence
from voice.core.domain import AudioClip
from voice.stages.audio import load_audio
from voice.transports.twilio.stream_admission import MAX_UNSTARTED_PER_ADDRESS

pytestmark = pytest.mark.integration
TOKEN = "stream-test-token"
@dataclass
class Line:
    base_url: str
    app: object
    transcriber: StubTranscriber
    store: object

    def caller(self, sid: str) -> StreamCaller:
        caller = StreamCaller(self.base_url, TOKEN, sid)
        caller.dial()
        return caller

    def session(self, sid: str):
        calls = self.app.extensions["hotline_streams"]  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = calls.active.get(sid) or next((s for s in calls.finished if s.driver.state.call_id == sid), None)
            if found is not None:
                return found
            time.sleep(0.02)
        raise AssertionError(f"no streaming session for {sid}")

    def stored(self, sid: str) -> dict:
        session = self.session(sid)
        assert session.wait_closed(10)
        return self.store.get_call(session.record.id)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("audio")  # prompts are synthesised once for the whole module


@pytest.fixture()
def line(request, tmp_path, settings, faq_answerer, audio_dir, monkeypatch) -> Iterator[Line]:
    """The hotline in Media Streams mode; ``indirect`` parameter ``"sms"``: with the written answer by SMS
    (Twilio's Messaging API played by a local server)."""
    from app import create_app
    from tests.fakes import messaging_api
    from voice.storage.store import SqlCallStore

    with contextlib.ExitStack() as stack:
        sms = {}
        if getattr(request, "param", "") == "sms":
            sms = {"sms_from": "+4930901820", "twilio_account_sid": "AC" + "0" * 32,
                   "sms_api_url": stack.enter_context(messaging_api())}
        s = replace(settings, twilio_auth_token=TOKEN, twilio_media="stream", data_dir=tmp_path,
                    audio_cache_dir=audio_dir, **sms)
        services, transcriber = stub_asr_services(s, faq_answerer, audio_dir)
        store = SqlCallStore(f"sqlite:///{tmp_path / 'calls.db'}", tmp_path / "spool.jsonl", b"k")
        app = create_app(s, services, warm=False, store=store)
        monkeypatch.setattr("voice.transports.twilio.media_webhooks.is_open", lambda office: True)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield Line(f"http://127.0.0.1:{server.server_port}", app, transcriber, store)
        server.shutdown()


@pytest.fixture(scope="module")
def question() -> AudioClip:
    """A real recorded German sentence (what Whisper would hear is stubbed; the VAD hears this)."""
    return trim_silence(load_audio(SPEECH / "leopard_test_de.wav"))


def speaking_level(clip: AudioClip) -> float:
    return float(np.sqrt(np.mean(clip.samples**2))) if len(clip.samples) else 0.0


def test_full_call_question_answer_and_rating_by_dtmf(line, question):
    caller = line.caller("CAfull")
    try:
        caller.wait_for_media(0.0, timeout=20)  # the greeting starts
        time.sleep(0.5)
        last_voiced = caller.say(question)  # the caller talks over the greeting
        answer_at = caller.wait_for_media(last_voiced, timeout=20)
        time.sleep(1.5)
        answer = caller.received.audio(answer_at, time.monotonic())
        assert answer.duration_s >= 1.0 and speaking_level(answer) > 0.01  # speech, not silence
        caller.press("#")  # enough: rate now (cuts the answer)
        time.sleep(1.5)
        caller.press("4")
        caller.wait_closed(timeout=30)  # goodbye played, then the hotline closes the stream
        after = caller.stream_ended()
        assert after.find("Hangup") is not None
    finally:
        caller.close()
    call = line.stored("CAfull")
    assert call["transport"] == "twilio-stream" and call["rating"] == 4 and call["end_reason"] == "completed"
    assert call["caller_hash"] and "+49" not in call["caller_hash"]
    (turn,) = call["turns"]
    assert turn["topic"] == "aufenthaltserlaubnis-verlaengern" and turn["transcript"] == QUESTION
    assert turn["endpoint_ms"] is not None and turn["first_audio_ms"] is not None
    assert turn["interrupted"] is True  # the caller pressed # during the answer


def test_barge_in_clears_the_answer_quickly_and_marks_it_interrupted(line, question):
    caller = line.caller("CAbarge")
    try:
        caller.wait_for_media(0.0, timeout=20)
        time.sleep(0.5)
        last_voiced = caller.say(question)
        caller.wait_for_media(last_voiced, timeout=20)
        time.sleep(1.0)  # the answer is playing
        clears_before = len(caller.received.clears)
        line.transcriber.transcript = said("Was kostet eine Aufenthaltserlaubnis?")
        last_voiced = caller.say(question)
        onset = caller.speech_started_at
        assert onset is not None and len(caller.received.clears) > clears_before
        cleared_after = caller.received.clears[clears_before] - onset
        assert 0.0 < cleared_after <= 0.3, f"clear came {cleared_after * 1000:.0f} ms after speech onset"
        caller.wait_for_media(last_voiced, timeout=20)  # the second question is answered too
        caller.hang_up()
    finally:
        caller.close()
    call = line.stored("CAbarge")
    assert [t["interrupted"] for t in call["turns"]][:1] == [True]
    assert len(call["turns"]) == 2


def test_a_cough_or_a_click_does_not_interrupt_the_prompt(line, question):
    rng = np.random.default_rng(3)
    n = 2400  # 300 ms: a cough is a short burst of broadband noise
    cough = AudioClip((rng.standard_normal(n) * np.exp(-np.linspace(0, 5, n)) * 0.6).astype(np.float32), 8000)
    grunt = AudioClip(question.samples[8000:8800].copy(), 8000)  # 100 ms of voice: shorter than speech counts
    caller = line.caller("CAcough")
    try:
        caller.wait_for_media(0.0, timeout=20)
        time.sleep(0.5)
        for noise in (cough, grunt):
            caller.say(noise)
            time.sleep(0.8)
        assert caller.received.clears == []
        before = len(caller.received.media)
        time.sleep(0.5)
        assert len(caller.received.media) > before  # the greeting goes on
        assert line.session("CAcough").endpointer.dropped_bursts >= 1
        assert line.transcriber.calls == 0
        caller.hang_up()
    finally:
        caller.close()


def test_the_socket_keeps_reading_while_speech_recognition_runs(line, question):
    line.transcriber.delay_s = 2.5
    caller = line.caller("CAbusy")
    try:
        caller.wait_for_media(0.0, timeout=20)
        time.sleep(0.3)
        last_voiced = caller.say(question)
        session = line.session("CAbusy")
        time.sleep(1.2)  # endpointing done, recognition still running
        assert session.driver.state.phase.value == "transcribing"
        seen = session.last_frame_at
        time.sleep(0.5)
        assert session.last_frame_at is not None and seen is not None and session.last_frame_at - seen >= 0.3
        caller.wait_for_media(last_voiced, timeout=20)
        caller.hang_up()
    finally:
        caller.close()


def test_zero_transfers_to_a_person_when_the_office_is_open(line):
    caller = line.caller("CAzero")
    try:
        caller.wait_for_media(0.0, timeout=20)
        caller.press("0")
        caller.wait_closed(timeout=30)
        after = caller.stream_ended()
        dial = after.find("Dial/Number")
        assert dial is not None and (dial.text or "").startswith("+49") and "/twilio/whisper?" in dial.get("url", "")
    finally:
        caller.close()
    assert line.stored("CAzero")["end_reason"] == "transferred"


def test_silence_after_the_prompt_asks_again(line):
    services = line.app.extensions["hotline"]  # type: ignore[attr-defined]
    services.settings = replace(services.settings, no_input_s=1.0)
    caller = line.caller("CAquiet")
    try:
        caller.wait_for_media(0.0, timeout=20)
        caller.wait_quiet(quiet_s=0.3, timeout=60)  # the whole greeting plays; the caller says nothing
        greeting_end = caller.received.media[-1][0]
        again = caller.wait_for_media(greeting_end, timeout=10)
        assert 0.9 <= again - greeting_end <= 5.0  # asked again after the configured second of silence
        caller.hang_up()
    finally:
        caller.close()


def test_malformed_messages_close_only_that_stream(line, question, caplog):
    good = line.caller("CAgood")
    bad = line.caller("CAbad")
    caplog.set_level(logging.WARNING, logger="voice.transports.twilio.media_stream")
    try:
        good.wait_for_media(0.0, timeout=20)
        bad.wait_for_media(0.0, timeout=20)
        bad._ws.send("this is not JSON")
        bad.wait_closed(timeout=10)
        assert "not JSON" in caplog.text
        time.sleep(0.3)
        last_voiced = good.say(question)  # the other call is unaffected
        good.wait_for_media(last_voiced, timeout=20)
        good.hang_up()
    finally:
        good.close()
        bad.close()
    assert line.stored("CAbad")["end_reason"].startswith("hangup")
    assert len(line.stored("CAgood")["turns"]) == 1


@pytest.mark.parametrize(
    "messages,reason",
    [
        (['{"event": "media", "media": {"payload": "AAAA"}}'], "before start"),
        (['{"event": "start", "start": {"callSid": "CAx", "streamSid": "MZx", "customParameters": {}}}'], "token"),
        (['{"event": "connected"}', '[1, 2, 3]'], "without an event"),
    ],
)
def test_a_stream_nobody_announced_or_garbage_is_refused(line, messages, reason, caplog):
    import simple_websocket

    caplog.set_level(logging.WARNING, logger="voice.transports.twilio.media_stream")
    ws = simple_websocket.Client.connect(line.base_url.replace("http", "ws") + "/twilio/stream")
    try:
        for message in messages:
            ws.send(message)
        with pytest.raises(simple_websocket.ConnectionClosed) as closed:
            for _ in range(20):
                ws.receive(timeout=0.5)
    finally:
        with contextlib.suppress(simple_websocket.ConnectionClosed):
            ws.close()
    assert closed.value.reason == 1008 and reason in caplog.text  # policy violation, and why, in the log


def test_a_silent_socket_is_closed_after_the_start_deadline_and_one_address_cannot_hold_many(line, monkeypatch):
    import simple_websocket

    from voice.transports.twilio import media_stream

    monkeypatch.setattr(media_stream, "START_TIMEOUT_S", 1.0)
    url = line.base_url.replace("http", "ws") + "/twilio/stream"
    sockets = [simple_websocket.Client.connect(url) for _ in range(MAX_UNSTARTED_PER_ADDRESS + 1)]
    try:
        started = time.monotonic()
        closed_at: list[tuple[float, int | None]] = []
        for ws in reversed(sockets):  # the last one first: it was over the limit
            try:
                while True:
                    ws.receive(timeout=0.2)
                    assert time.monotonic() - started < 5, "a silent socket was kept open"
            except simple_websocket.ConnectionClosed as exc:
                closed_at.append((time.monotonic() - started, exc.reason))
    finally:
        for ws in sockets:
            with contextlib.suppress(simple_websocket.ConnectionClosed):
                ws.close()
    assert all(reason == 1008 for _, reason in closed_at), closed_at
    assert closed_at[0][0] < 0.5  # the one over the limit at once
    assert all(0.9 < t < 3.0 for t, _ in closed_at[1:])  # the others at the deadline
    calls = line.app.extensions["hotline_streams"]  # type: ignore[attr-defined]
    deadline = time.monotonic() + 3
    while calls.unstarted.held("127.0.0.1") and time.monotonic() < deadline:  # handlers finish after closing
        time.sleep(0.05)
    assert calls.unstarted.held("127.0.0.1") == 0  # nothing is left counted against the address
    caller = line.caller("CAafter")  # a real call still starts afterwards
    try:
        caller.wait_for_media(0.0, timeout=15)
    finally:
        caller.hang_up()


def test_behind_https_the_stream_url_is_wss_and_the_webhook_stays_signed(tmp_path, settings, faq_answerer):
    import xml.etree.ElementTree as ET

    from twilio.request_validator import RequestValidator

    from app import create_app, create_services
    from voice.storage.store import SqlCallStore

    public = "https://hotline.example.org"
    s = replace(settings, twilio_auth_token=TOKEN, twilio_media="stream", public_base_url=public, data_dir=tmp_path)
    services = create_services(s)
    services.answerer = faq_answerer
    store = SqlCallStore(f"sqlite:///{tmp_path / 'calls.db'}", tmp_path / "spool.jsonl", b"k")
    client = create_app(s, services, warm=False, store=store).test_client()
    params = {"CallSid": "CAhttps", "From": "+4915100000"}
    signature = RequestValidator(TOKEN).compute_signature(f"{public}/twilio/voice", params)
    response = client.post("/twilio/voice", data=params, headers={"X-Twilio-Signature": signature})
    root = ET.fromstring(response.get_data(as_text=True))
    connect, stream = root.find("Connect"), root.find("Connect/Stream")
    assert connect is not None and stream is not None
    assert stream.get("url") == "wss://hotline.example.org/twilio/stream"
    assert connect.get("action") == f"{public}/twilio/stream-ended"
    token = next(p.get("value") for p in stream.iter("Parameter") if p.get("name") == "token")
    assert token and len(token) == 64
    forged = client.post("/twilio/voice", data=params, headers={"X-Twilio-Signature": "forged"})
    assert forged.status_code == 403


def test_unsure_question_is_confirmed_by_voice_then_answered(line, question):
    """Recognition unsure of the words: the hotline asks "is your question about …?" and the caller
    says yes over the stream; the answer follows and the turn records the confirmation."""
    line.transcriber.transcript = replace(said(QUESTION), avg_logprob=-0.7, no_speech_prob=0.02)
    caller = line.caller("CAconfirm")
    try:
        caller.wait_for_media(0.0, timeout=20)
        time.sleep(0.5)
        last_voiced = caller.say(question)
        caller.wait_for_media(last_voiced, timeout=20)  # the confirmation question
        session = line.session("CAconfirm")
        deadline = time.monotonic() + 10
        while session.driver.state.phase.value != "confirm_topic" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session.driver.state.offered[0] == "aufenthaltserlaubnis-verlaengern"
        line.transcriber.transcript = replace(said("Ja, genau."), avg_logprob=-0.1, no_speech_prob=0.01)
        last_voiced = caller.say(question)  # the VAD hears speech; recognition says "ja"
        caller.wait_for_media(last_voiced, timeout=20)  # the answer
        deadline = time.monotonic() + 10
        while not session.driver.turns and time.monotonic() < deadline:
            time.sleep(0.05)
        caller.hang_up()
    finally:
        caller.close()
    (turn,) = line.stored("CAconfirm")["turns"]
    assert turn["topic"] == "aufenthaltserlaubnis-verlaengern" and turn["outcome"] == "confirm"
    assert turn["confirm_choice"] == "1" and turn["transcript"] == QUESTION


def test_a_call_beyond_capacity_hears_lines_busy_and_the_place_frees_when_a_stream_ends(line):
    """Admission control in real-time mode: the voice webhook of a call the runtime cannot take answers
    with the busy message (German, English) and a hang-up instead of a stream; the refusal is stored for
    the dashboard, and once the call in progress ends the next one is taken."""
    from voice.runtime.runtime import AdmissionPolicy

    runtime = line.app.extensions["hotline"].runtime  # type: ignore[attr-defined]
    runtime.policy = AdmissionPolicy(max_calls=1)
    first = line.caller("CAcap1")
    try:
        first.wait_for_media(0.0, timeout=20)
        second = StreamCaller(line.base_url, TOKEN, "CAcap2")
        root = second.post(f"{line.base_url}/twilio/voice", CallStatus="ringing")
        assert root.find("Connect") is None and root.find("Hangup") is not None
        assert len(root.findall("Play")) == 2 and runtime.refused["max_calls"] == 1
        first.hang_up()
        line.session("CAcap1").wait_closed(10)
    finally:
        first.close()
    deadline = time.monotonic() + 5
    while runtime.live_calls() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert runtime.live_calls() == 0
    third = line.caller("CAcap3")  # the place is free again
    try:
        third.wait_for_media(0.0, timeout=20)
    finally:
        third.hang_up()
        third.close()
    overview = _queries(line).overview(_today())
    assert overview["refused"] == 1 and overview["calls"] >= 2


def _queries(line):
    from voice.dashboard.queries import Dashboard

    return Dashboard(line.store.engine)


def _today():
    from voice.dashboard.queries import CallFilter

    return CallFilter()


def ask_and_hear_short_answer(caller: StreamCaller, question: AudioClip) -> None:
    """The whole greeting, the question, then the short answer, the legal basis and its menu."""
    caller.wait_for_media(0.0, timeout=20)
    caller.wait_quiet(0.8, timeout=60)
    last_voiced = caller.say(question)
    caller.wait_for_media(last_voiced, timeout=20)
    caller.wait_quiet(0.8, timeout=90)


def press_and_hear(caller: StreamCaller, key: str, timeout: float) -> AudioClip:
    """Press ``key``; what the hotline says in reply, until it is quiet."""
    pressed = time.monotonic()
    caller.press(key)
    started = caller.wait_for_media(pressed, timeout=20)
    caller.wait_quiet(0.8, timeout=timeout)
    return caller.received.audio(started, time.monotonic())


def rate_and_hang_up(caller: StreamCaller, rating: str) -> None:
    caller.press("#")
    time.sleep(1.0)
    caller.press(rating)
    caller.wait_closed(timeout=30)


def test_one_after_the_short_answer_plays_the_details_over_a_stream(line, question):
    caller = line.caller("CAdetails")
    try:
        ask_and_hear_short_answer(caller, question)
        details = press_and_hear(caller, "1", timeout=120)
        assert details.duration_s >= 10.0  # the full answer is much longer than a short one
        rate_and_hang_up(caller, "5")
    finally:
        caller.close()
    (turn,) = line.stored("CAdetails")["turns"]
    assert turn["followups"] == "details" and turn["interrupted"] is False


@pytest.mark.parametrize("line", ["sms"], indirect=True)
def test_three_repeats_the_short_answer_and_two_sends_it_by_sms_over_a_stream(line, question):
    from tests.fakes import FakeMessagingApi

    caller = line.caller("CAmenu23")
    try:
        ask_and_hear_short_answer(caller, question)  # its menu offers 2
        again = press_and_hear(caller, "3", timeout=90)
        assert again.duration_s >= 5.0  # the short answer again
        caller.press("2")
        caller.wait_quiet(0.8, timeout=60)  # "sent", then "another question?"
        rate_and_hang_up(caller, "5")
    finally:
        caller.close()
    stored = line.stored("CAmenu23")
    (turn,) = stored["turns"]
    assert turn["followups"] == "repeat,text" and turn["sms_status"] == "sent" and stored["rating"] == 5
    (sent,) = FakeMessagingApi.requests
    assert sent["form"]["To"] == "+4915112345678" and "AufenthG" in sent["form"]["Body"]
