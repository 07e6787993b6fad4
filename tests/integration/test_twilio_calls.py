"""Whole calls through the Flask app with signed Twilio requests.

Real retrieval, real eSpeak audio, a real SQLite/PostgreSQL call store and a real HTTP media server for
the recordings; speech recognition is a fake here (the transport is under test; Whisper has its own
tests on real speech), returning the question the caller "said".
"""

from __future__ import annotations

import http.server
import io
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
from twilio.request_validator import RequestValidator

from tests.fakes import FakeTranscriber, said
from voice.core.domain import SpeechStatus, Transcript

pytestmark = pytest.mark.integration
TOKEN = "test-auth-token"


class MediaServer:
    """Serves a WAV per path; ``not_ready`` answers 404 that many times first (Twilio's lag)."""

    def __init__(self) -> None:
        self.not_ready = 0
        self.hits = 0
        self.delay_s = 0.0  # a slow media host
        buf = io.BytesIO()
        sf.write(buf, (0.2 * np.sin(np.arange(16000) / 3.0)).astype(np.float32), 8000, format="WAV", subtype="PCM_16")
        self.wav = buf.getvalue()
        media = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                media.hits += 1
                time.sleep(media.delay_s)
                if media.not_ready > 0:
                    media.not_ready -= 1
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "audio/wav")
                self.end_headers()
                self.wfile.write(media.wav)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/Recordings/RE1"


@pytest.fixture(scope="module")
def media() -> Iterator[MediaServer]:
    server = MediaServer()
    yield server
    server.server.shutdown()


@pytest.fixture()
def hotline(tmp_path, settings, faq_answerer, monkeypatch):
    from app import create_app, create_services
    from voice.stages.tts.cache import CachedSynthesizer
    from voice.stages.tts.espeak import EspeakSynthesizer
    from voice.storage.store import SqlCallStore

    s = replace(settings, twilio_auth_token=TOKEN, data_dir=tmp_path, audio_cache_dir=tmp_path / "audio",
                recording_hosts="http://127.0.0.1")  # the media server below plays Twilio's
    services = create_services(s)
    services.answerer = faq_answerer
    services.synthesizer = CachedSynthesizer(EspeakSynthesizer(), tmp_path / "audio")
    services.transcriber = FakeTranscriber()
    store = SqlCallStore(f"sqlite:///{tmp_path / 'calls.db'}", tmp_path / "spool.jsonl", b"k")
    app = create_app(s, services, warm=False, store=store)
    monkeypatch.setattr("voice.transports.twilio.webhooks.is_open", lambda office: True)
    return app, services, store


class Phone:
    """Plays Twilio's part: signed form posts, TwiML parsed as XML."""

    def __init__(self, app, sid: str = "CA1") -> None:
        self.client = app.test_client()
        self.sid = sid

    def post(self, path: str, token: str = TOKEN, **form: str) -> tuple[int, ET.Element | None]:
        params = {"CallSid": self.sid, **form}
        url = f"http://localhost{path}"
        signature = RequestValidator(token).compute_signature(url, params)
        response = self.client.post(path, data=params, headers={"X-Twilio-Signature": signature})
        body = response.get_data(as_text=True)
        return response.status_code, (ET.fromstring(body) if body.startswith("<?xml") else None)

    def audio_ok(self, root: ET.Element) -> int:
        """Fetch every <Play> URL and check it is telephone audio; returns how many were played."""
        urls = [p.text for p in root.iter("Play")]
        for url in urls:
            response = self.client.get(url.replace("http://localhost", ""))
            assert response.status_code == 200 and response.mimetype == "audio/wav"
            assert sf.info(io.BytesIO(response.data)).samplerate == 8000
        return len(urls)


def record_action(root: ET.Element) -> str:
    record = root.find("Record")
    assert record is not None, ET.tostring(root)
    return record.get("action", "")


def test_forged_signature_is_refused(hotline):
    app, _, _ = hotline
    phone = Phone(app)
    assert phone.post("/twilio/voice", token="wrong", From="+4915100000")[0] == 403
    response = app.test_client().post("/twilio/voice", data={"CallSid": "CA1"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    "lang,question",
    [
        ("de", "Wie verlängere ich meine Aufenthaltserlaubnis?"),
        ("tr", "Oturma iznimi nasıl uzatabilirim?"),
        ("ar", "كيف يمكنني تمديد تصريح إقامتي؟"),
    ],
)
def test_question_answer_and_rating(hotline, media, lang, question):
    app, services, store = hotline
    services.transcriber.results.append(said(question, lang, 0.97))
    phone = Phone(app, sid=f"CA-{lang}")
    code, root = phone.post("/twilio/voice", From="+491511234567")
    assert code == 200 and record_action(root).endswith("/twilio/recording")
    assert phone.audio_ok(root) == 3  # greeting, hint, "ask after the tone"
    code, root = phone.post("/twilio/recording", RecordingUrl=media.url, RecordingDuration="4")
    assert code == 200 and phone.audio_ok(root) >= 4  # intro, answer, legal basis, disclaimer, another?
    assert record_action(root)  # listening for another question
    code, root = phone.post("/twilio/digits", Digits="#")
    gather = root.find("Gather")
    assert gather is not None and gather.get("numDigits") == "1"
    code, root = phone.post("/twilio/digits", Digits="7")  # invalid rating: one reprompt
    assert root.find("Gather") is not None
    code, root = phone.post("/twilio/digits", Digits="4")
    assert root.find("Hangup") is not None
    phone.post("/twilio/status", CallStatus="completed")
    call = store.get_call(app.extensions["hotline_calls"].calls.get(phone.sid, None) or _only_call(store))
    assert call["rating"] == 4 and call["end_reason"] == "completed"
    assert call["turns"][0]["topic"] == "aufenthaltserlaubnis-verlaengern"
    assert call["turns"][0]["answer_language"] == lang
    assert call["caller_hash"] and "1234567" not in str(call)


def _only_call(store) -> str:
    from sqlalchemy import select

    from voice.storage.schema import calls

    with store.engine.connect() as conn:
        ids = conn.execute(select(calls.c.id).order_by(calls.c.started_at.desc())).scalars().all()
    return ids[0]


def test_recording_not_ready_is_retried(hotline, media):
    app, services, _ = hotline
    services.transcriber.results.append(said("Wie verlängere ich meine Aufenthaltserlaubnis?"))
    media.not_ready = 2
    phone = Phone(app, sid="CA-retry")
    phone.post("/twilio/voice", From="+4930111")
    before = media.hits
    code, root = phone.post("/twilio/recording", RecordingUrl=media.url, RecordingDuration="3")
    assert code == 200 and media.hits - before == 3
    assert phone.audio_ok(root) >= 4


def test_asr_failure_apologises_and_listens_again(hotline, media):
    app, services, _ = hotline

    def broken(audio, language=None):
        raise RuntimeError("decoder crashed")

    services.transcriber.transcribe = broken  # type: ignore[method-assign]
    phone = Phone(app, sid="CA-asr")
    phone.post("/twilio/voice", From="+4930222")
    code, root = phone.post("/twilio/recording", RecordingUrl=media.url, RecordingDuration="3")
    assert code == 200
    # the caller hears the apology and may ask again
    assert root.find("Record") is not None and phone.audio_ok(root) == 2


def test_handover_in_and_out_of_office_hours(hotline, media, monkeypatch):
    app, services, _ = hotline
    for open_now, sid in ((True, "CA-open"), (False, "CA-closed")):
        monkeypatch.setattr("voice.transports.twilio.webhooks.is_open", lambda office, v=open_now: v)
        services.transcriber.results.append(said("Wie wird das Wetter morgen?"))
        phone = Phone(app, sid=sid)
        phone.post("/twilio/voice", From="+4930333")
        _, root = phone.post("/twilio/recording", RecordingUrl=media.url, RecordingDuration="3")
        dial = root.find("Dial/Number")
        if open_now:
            assert dial is not None and dial.text == services.phrases.content.office["transfer_number"]
            assert "language=de" in dial.get("url", "")  # staff hear the caller's language first
        else:
            assert dial is None and root.find("Record") is not None  # contact channels, then go on


def test_language_menu_switch_and_kurdish_topic_menu(hotline):
    app, services, _ = hotline
    phone = Phone(app, sid="CA-menu")
    phone.post("/twilio/voice", From="+4930444")
    _, root = phone.post("/twilio/recording", Digits="*")
    assert root.find("Gather") is not None and phone.audio_ok(root) == 9  # 8 languages and "more"
    _, root = phone.post("/twilio/digits", Digits="9")
    _, root = phone.post("/twilio/digits", Digits="1")  # Kurmancî
    gather = root.find("Gather")
    assert gather is not None and root.find("Record") is None  # keypad, not speech
    _, root = phone.post("/twilio/digits", Digits="1")  # first category
    _, root = phone.post("/twilio/digits", Digits="1")  # first topic
    assert phone.audio_ok(root) >= 2
    call = app.extensions["hotline_calls"].calls["CA-menu"]
    turn = call.driver.turns[-1]
    assert turn.answer.language == "ku" and turn.answer.topic and not turn.answer.handover


def test_hangup_before_rating_leaves_a_complete_record(hotline, media):
    app, services, store = hotline
    services.transcriber.results.append(said("Wie verlängere ich meine Aufenthaltserlaubnis?"))
    phone = Phone(app, sid="CA-hangup")
    phone.post("/twilio/voice", From="+4930555")
    phone.post("/twilio/recording", RecordingUrl=media.url, RecordingDuration="3")
    phone.post("/twilio/status", CallStatus="completed")
    call = store.get_call(_only_call(store))
    assert call["rating"] is None and call["end_reason"].startswith("hangup:") and call["ended_at"]
    assert len(call["turns"]) == 1


def test_silence_in_the_recording_is_no_input(hotline):
    app, _, _ = hotline
    phone = Phone(app, sid="CA-silent")
    phone.post("/twilio/voice", From="+4930666")
    _, root = phone.post("/twilio/noinput")
    assert root.find("Record") is not None and phone.audio_ok(root) == 1  # "I heard nothing"


def test_expired_or_forged_audio_urls_are_refused(hotline):
    app, _, _ = hotline
    phone = Phone(app, sid="CA-audio")
    _, root = phone.post("/twilio/voice", From="+4930777")
    url = next(root.iter("Play")).text.replace("http://localhost", "")
    assert phone.client.get(url).status_code == 200
    assert phone.client.get(url.replace("&s=", "&s=0")).status_code == 403
    assert phone.client.get(url.split("?")[0]).status_code == 403


def test_rating_is_kept_while_the_database_is_down(hotline, media, tmp_path):
    app, services, store = hotline
    services.transcriber.results.append(said("Wie verlängere ich meine Aufenthaltserlaubnis?"))
    phone = Phone(app, sid="CA-dbdown")
    phone.post("/twilio/voice", From="+4930888")
    phone.post("/twilio/recording", RecordingUrl=media.url, RecordingDuration="3")
    phone.post("/twilio/digits", Digits="#")
    db = tmp_path / "calls.db"
    db.rename(tmp_path / "calls.db.away")
    (tmp_path / "calls.db").mkdir()  # the database file is gone: every write fails
    _, root = phone.post("/twilio/digits", Digits="5")
    assert root.find("Hangup") is not None  # the caller notices nothing
    (tmp_path / "calls.db").rmdir()
    (tmp_path / "calls.db.away").rename(db)
    assert store.flush() >= 1
    assert store.get_call(_only_call(store))["rating"] == 5


def test_unreadable_recording_asks_to_repeat(hotline, media):
    app, services, _ = hotline
    media_wav = media.wav
    media.wav = b"not audio"
    try:
        phone = Phone(app, sid="CA-garbage")
        phone.post("/twilio/voice", From="+4930999")
        _, root = phone.post("/twilio/recording", RecordingUrl=media.url, RecordingDuration="3")
        assert root.find("Record") is not None and phone.audio_ok(root) == 1
    finally:
        media.wav = media_wav


def test_a_recording_url_outside_the_allow_list_is_never_fetched(hotline, media, caplog):
    app, services, _ = hotline
    phone = Phone(app, sid="CA-elsewhere")
    phone.post("/twilio/voice", From="+4930998")
    hits = media.hits
    started = time.monotonic()
    elsewhere = media.url.replace("127.0.0.1", "localhost")  # the same server under a name not allowed
    _, root = phone.post("/twilio/recording", RecordingUrl=elsewhere, RecordingDuration="3")
    assert root.find("Record") is not None and phone.audio_ok(root) == 1  # "please say it again", at once
    assert media.hits == hits and time.monotonic() - started < 5
    assert "not allowed" in caplog.text


def test_hanging_recording_downloads_do_not_delay_another_callers_keypad(hotline, media):
    """Eight callers' recordings hang on a slow media host; a ninth caller's key press is answered at once
    (downloads wait on their own threads, not on the ones that run the calls' engine steps)."""
    app, _, _ = hotline
    slow = [Phone(app, sid=f"CA-slow-{i}") for i in range(8)]
    quick = Phone(app, sid="CA-quick")
    for phone in [*slow, quick]:
        phone.post("/twilio/voice", From="+4930111")
    media.delay_s = 4.0
    threads = [threading.Thread(target=p.post, args=("/twilio/recording",),
                                kwargs={"RecordingUrl": media.url, "RecordingDuration": "3"}) for p in slow]
    try:
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # every download is under way
        started = time.monotonic()
        status, root = quick.post("/twilio/digits", Digits="*")  # the language menu
        took = time.monotonic() - started
    finally:
        for thread in threads:
            thread.join(timeout=30)
        media.delay_s = 0.0
    assert status == 200 and root is not None and root.find("Gather") is not None
    assert took < 1.5, f"the key press waited {took:.1f} s behind the downloads"


def test_no_speech_transcript_reprompts(hotline, media):
    app, services, _ = hotline
    services.transcriber.results.append(Transcript("", None, 0.0, 3.0, SpeechStatus.NO_SPEECH, "silence"))
    phone = Phone(app, sid="CA-nospeech")
    phone.post("/twilio/voice", From="+4931000")
    _, root = phone.post("/twilio/recording", RecordingUrl=media.url, RecordingDuration="3")
    assert root.find("Record") is not None


def test_slow_turn_plays_one_moment_and_continues(hotline, media):
    """A turn slower than the webhook budget must not run into Twilio's 15 s limit."""
    import time as _time

    app, services, _ = hotline
    services.settings = replace(services.settings, webhook_budget_s=0.2)
    slow = FakeTranscriber(said("Wie verlängere ich meine Aufenthaltserlaubnis?"))
    original = slow.transcribe

    def transcribe_slowly(audio, language=None):
        _time.sleep(1.0)
        return original(audio, language)

    slow.transcribe = transcribe_slowly  # type: ignore[method-assign]
    services.transcriber = slow
    phone = Phone(app, sid="CA-slow")
    phone.post("/twilio/voice", From="+4931111")
    _, root = phone.post("/twilio/recording", RecordingUrl=media.url, RecordingDuration="3")
    redirect = root.find("Redirect")
    assert redirect is not None and redirect.text.endswith("/twilio/continue")
    assert phone.audio_ok(root) == 1  # "one moment, please"
    for _ in range(20):
        _, root = phone.post("/twilio/continue")
        if root.find("Record") is not None:
            break
    assert root.find("Record") is not None and phone.audio_ok(root) >= 4  # the answer arrived


def test_unsure_recognition_confirms_the_topic_before_answering(hotline, media):
    """Whisper unsure of the words: real retrieval finds the topic, the caller confirms it on the keypad."""
    app, services, store = hotline
    unsure = replace(said("Wie verlängere ich meine Aufenthaltserlaubnis?"), avg_logprob=-0.7, no_speech_prob=0.02)
    services.transcriber.results.append(unsure)
    phone = Phone(app, sid="CA-confirm")
    phone.post("/twilio/voice", From="+491511234567")
    code, root = phone.post("/twilio/recording", RecordingUrl=media.url, RecordingDuration="4")
    gather = root.find("Gather")
    assert code == 200 and gather is not None and root.find("Record") is None  # a question, not an answer
    assert phone.audio_ok(root) >= 1
    code, root = phone.post("/twilio/digits", Digits="1")
    assert phone.audio_ok(root) >= 4 and record_action(root)  # the answer, then "another question?"
    phone.post("/twilio/digits", Digits="#")
    phone.post("/twilio/digits", Digits="5")
    turn = store.get_call(_only_call(store))["turns"][0]
    assert turn["topic"] == "aufenthaltserlaubnis-verlaengern" and not turn["handover"]
    assert turn["outcome"] == "confirm" and turn["confirm_choice"] == "1"
    assert turn["confirm_offered"].split(",")[0] == "aufenthaltserlaubnis-verlaengern"
    assert turn["asr_logprob"] == -0.7


def test_garbled_recognition_asks_to_repeat_and_answers_nothing(hotline, media):
    app, services, store = hotline
    services.transcriber.results.append(replace(said("Mein neuer Familie Deutsch anstubieren"), avg_logprob=-1.6))
    phone = Phone(app, sid="CA-garbled")
    phone.post("/twilio/voice", From="+491511234567")
    code, root = phone.post("/twilio/recording", RecordingUrl=media.url, RecordingDuration="4")
    assert code == 200 and record_action(root)  # listening again: the caller is asked to repeat
    assert phone.audio_ok(root) == 1
    assert store.get_call(_only_call(store))["turns"] == []  # nothing was answered


def test_a_call_that_would_wait_too_long_hears_lines_busy_and_calls_in_progress_go_on(hotline, media):
    """Admission control in record mode: with a recogniser whose queue holds more than the wait budget,
    a new call hears the busy message (German and English audio) and a hang-up; a call already in
    progress is still answered; once the queue drains, new calls are taken again."""
    app, services, store = hotline
    runtime = services.runtime
    runtime.scheduler.stage_s = 1.0  # a recogniser measured at 1 s a question
    early = Phone(app, sid="CA-taken")
    assert record_action(early.post("/twilio/voice", From="+4930333")[1])
    gate = threading.Event()
    ahead = 3 * runtime.scheduler.slots  # 3 s of work ahead, whatever the slots
    queue = [runtime.scheduler.submit(lambda: gate.wait(10)) for _ in range(ahead)]
    try:
        code, root = Phone(app, sid="CA-refused").post("/twilio/voice", From="+4930444")
        assert code == 200 and root.find("Record") is None and root.find("Hangup") is not None
        assert Phone(app).audio_ok(root) == 2 and runtime.refused["wait"] == 1
        services.transcriber.results.append(said("Wie verlängere ich meine Aufenthaltserlaubnis?"))
        code, root = early.post("/twilio/recording", RecordingUrl=media.url, RecordingDuration="3")
        assert code == 200 and phone_says_answer(root)  # the call in progress is served
    finally:
        gate.set()
    assert all(t.future.result(timeout=5) for t in queue)
    assert record_action(Phone(app, sid="CA-later").post("/twilio/voice", From="+4930555")[1])
    refused = [store.get_call(i) for i in store.list_calls()]
    refused = [c for c in refused if c["end_reason"] == "busy"]
    assert len(refused) == 1 and refused[0]["external_id"] is None and refused[0]["caller_hash"]
    assert "4444" not in str(refused[0])
    early.post("/twilio/status", CallStatus="completed")
    assert runtime.live_calls() == 1  # CA-later is still in progress


def phone_says_answer(root: ET.Element) -> bool:
    return len(list(root.iter("Play"))) >= 4 and root.find("Record") is not None


def test_a_short_answer_first_then_the_repeat_and_the_details_on_keys(hotline, media):
    app, services, store = hotline
    services.transcriber.results.append(said("Wie verlängere ich meine Aufenthaltserlaubnis?", "de", 0.97))
    phone = Phone(app, sid="CA-short")
    phone.post("/twilio/voice", From="+491511234567")
    code, root = phone.post("/twilio/recording", RecordingUrl=media.url, RecordingDuration="4")
    record = root.find("Record")
    assert code == 200 and record is not None and {"1", "3"} <= set(record.get("finishOnKey", ""))
    short_plays = phone.audio_ok(root)
    _, root = phone.post("/twilio/recording", Digits="3")  # a key ends the recording: hear it again
    assert phone.audio_ok(root) == 2 and root.find("Record") is not None  # the short answer and the menu
    _, root = phone.post("/twilio/recording", Digits="1")  # the details: the full spoken answer
    assert phone.audio_ok(root) == 2 and {"1", "3"}.isdisjoint(root.find("Record").get("finishOnKey", ""))
    phone.post("/twilio/status", CallStatus="completed")
    turn = store.get_call(_only_call(store))["turns"][0]
    assert turn["topic"] == "aufenthaltserlaubnis-verlaengern" and turn["followups"] == "repeat,details"
    entry = services.answerer.answer_topic("aufenthaltserlaubnis-verlaengern", "de")
    assert entry.short and len(entry.short.split()) <= 30 and turn["answer_text"] == entry.text
    assert short_plays >= 4  # intro, short answer, legal basis, disclaimer and menu


def test_two_sends_the_written_answer_by_sms_and_the_signed_delivery_report_is_stored(hotline, media):
    from tests.fakes import FakeMessagingApi, messaging_api
    from voice.runtime.texting import AnswerTexter
    from voice.stages.sms.policy import SmsPolicy
    from voice.stages.sms.twilio_sms import TwilioSms

    app, services, store = hotline
    with messaging_api() as api:
        sender = TwilioSms("AC0123", TOKEN, "+4930555", base_url=api)
        services.texter = AnswerTexter(services.answerer, services.phrases, SmsPolicy(key=b"k"), sender)
        services.transcriber.results.append(said("Wie verlängere ich meine Aufenthaltserlaubnis?", "de", 0.97))
        phone = Phone(app, sid="CA-sms")
        phone.post("/twilio/voice", From="+4915112345678")
        _, root = phone.post("/twilio/recording", RecordingUrl=media.url, RecordingDuration="4")
        assert "2" in root.find("Record").get("finishOnKey", "")  # a mobile caller is offered the SMS
        _, root = phone.post("/twilio/recording", Digits="2")
        assert phone.audio_ok(root) == 2 and root.find("Record") is not None  # "on its way", another question?
        (sent,) = FakeMessagingApi.requests
        assert sent["form"]["To"] == "+4915112345678" and sent["form"]["From"] == "+4930555"
        assert "keine Rechtsberatung" in sent["form"]["Body"]
        code, _ = phone.post("/twilio/sms-status", MessageSid="SM0001", MessageStatus="delivered")
        assert code == 204
        assert phone.post("/twilio/sms-status", token="forged", MessageSid="SM0001", MessageStatus="failed")[0] == 403
        phone.post("/twilio/status", CallStatus="completed")
        call = store.get_call(_only_call(store))
        turn = call["turns"][0]
        assert (turn["followups"], turn["sms_status"], turn["sms_id"]) == ("text", "delivered", "SM0001")
        assert turn["sms_segments"] >= 1 and "5112345678" not in str(call)  # the number is nowhere in the record
        FakeMessagingApi.reply = (500, {"code": 20500, "message": "Internal error", "status": 500})
        services.transcriber.results.append(said("Wie verlängere ich meine Aufenthaltserlaubnis?", "de", 0.97))
        failing = Phone(app, sid="CA-sms-fail")
        failing.post("/twilio/voice", From="+4915112345678")
        failing.post("/twilio/recording", RecordingUrl=media.url, RecordingDuration="4")
        _, root = failing.post("/twilio/recording", Digits="2")
        assert root.find("Record") is not None  # told it failed (with the web page), and the call goes on
        landline = Phone(app, sid="CA-landline")
        services.transcriber.results.append(said("Wie verlängere ich meine Aufenthaltserlaubnis?", "de", 0.97))
        landline.post("/twilio/voice", From="+493012345678")
        _, root = landline.post("/twilio/recording", RecordingUrl=media.url, RecordingDuration="4")
        assert "2" not in root.find("Record").get("finishOnKey", "")  # not offered to a landline


def test_a_hand_over_dials_staff_for_the_callers_language_who_hear_a_whisper_first(hotline, media, monkeypatch):
    app, services, _ = hotline
    monkeypatch.setitem(services.phrases.content.office, "transfer_numbers", {"ar": "+49 30 12345 120"})
    services.transcriber.results.append(said("كيف أقدم طلب Kindergeld لابني؟", "ar", 0.97))  # the Familienkasse
    phone = Phone(app, sid="CA-ar-handover")
    phone.post("/twilio/voice", From="+4930333")
    _, root = phone.post("/twilio/recording", RecordingUrl=media.url, RecordingDuration="3")
    number = root.find("Dial/Number")
    assert number is not None and number.text == "+49 30 12345 120"  # Arabic-speaking staff
    whisper = number.get("url", "").replace("http://localhost", "")
    assert "language=ar" in whisper
    code, played = phone.post(whisper)
    assert code == 200 and phone.audio_ok(played) == 1 and played.find("Hangup") is None
    assert phone.post(whisper, token="forged")[0] == 403


def test_metrics_count_calls_refusals_and_stage_latency_in_prometheus_format(hotline, media):
    from prometheus_client.parser import text_string_to_metric_families

    app, services, _ = hotline
    services.transcriber.results.append(said("Wie verlängere ich meine Aufenthaltserlaubnis?", "de", 0.97))
    phone = Phone(app, sid="CA-metrics")
    phone.post("/twilio/voice", From="+4930333")
    phone.post("/twilio/recording", RecordingUrl=media.url, RecordingDuration="4")
    services.runtime.refused["load"] += 1  # as admission control counts a refusal
    response = app.test_client().get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    families = {f.name: f for f in text_string_to_metric_families(response.get_data(as_text=True))}
    calls = {s.labels["transport"]: s.value for s in families["hotline_calls_in_progress"].samples}
    assert calls == {"twilio": 1.0}
    refused = {s.labels["reason"]: s.value for s in families["hotline_calls_refused"].samples}
    assert refused["load"] == 1.0
    stages = {s.labels["stage"] for s in families["hotline_stage_seconds"].samples if s.name.endswith("_count")}
    assert {"asr", "retrieval", "tts"} <= stages
    assert "hotline_recognition_queue" in families and "hotline_stage_errors" in families
    phone.post("/twilio/status", CallStatus="completed")
