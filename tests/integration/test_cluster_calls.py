"""Two hotline nodes sharing one Redis and one PostgreSQL database: webhook calls on any node.

Each node is a separate application with its own engines, audio cache and data folder; they share only
what a cluster shares (Redis, PostgreSQL, the configured secrets). Real Redis (a private redis-server),
real PostgreSQL, real retrieval and eSpeak; recognition is a fake (the transport is under test).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import pytest
import redis

from tests.fakes import FakeTranscriber, said
from tests.integration.test_twilio_calls import TOKEN, MediaServer, Phone, record_action

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def media():
    server = MediaServer()
    yield server
    server.server.shutdown()


def _two_nodes(tmp_path, settings, faq_answerer, postgres_url, redis_server, **extra):
    """Two applications sharing Redis and PostgreSQL; ``extra`` settings for both ("{name}": "a" or "b")."""
    from app import create_app, create_services
    from voice.stages.tts.cache import CachedSynthesizer
    from voice.stages.tts.espeak import EspeakSynthesizer

    transcriber = FakeTranscriber()
    apps = []
    for name in ("a", "b"):
        s = replace(settings, twilio_auth_token=TOKEN, data_dir=tmp_path / name,
                    audio_cache_dir=tmp_path / name / "audio", recording_hosts="http://127.0.0.1",
                    redis_url=redis_server.url, database_url=postgres_url,
                    caller_hash_key="cluster-secret", public_base_url="http://localhost",
                    **{k: v.format(name=name) if isinstance(v, str) else v for k, v in extra.items()})
        assert not s.problems() and not s.node_problems()
        services = create_services(s)
        services.answerer, services.transcriber = faq_answerer, transcriber
        services.synthesizer = CachedSynthesizer(EspeakSynthesizer(), s.audio_cache_dir)
        apps.append(create_app(s, services, warm=False))
    return apps, transcriber


def _close(apps) -> None:
    for app in apps:
        app.extensions["hotline_calls"].close()
        app.extensions["hotline_nodes"].leave()
        app.extensions["hotline_store"].engine.dispose()


@pytest.fixture()
def nodes(tmp_path, settings, faq_answerer, postgres_url, redis_server, monkeypatch):
    monkeypatch.setattr("voice.transports.twilio.webhooks.is_open", lambda office: True)
    apps, transcriber = _two_nodes(tmp_path, settings, faq_answerer, postgres_url, redis_server)
    yield apps, transcriber, redis.Redis.from_url(redis_server.url)
    _close(apps)


@pytest.fixture()
def stream_nodes(tmp_path, settings, faq_answerer, postgres_url, redis_server):
    """Two nodes in Media Streams mode, each with its own address for the streams it takes."""
    apps, _ = _two_nodes(tmp_path, settings, faq_answerer, postgres_url, redis_server,
                         twilio_media="stream", node_url="http://node-{name}.test")
    yield apps
    _close(apps)


def _state(client: redis.Redis, sid: str) -> tuple[int, dict]:
    raw = client.hgetall(f"hotline:call:{sid}")
    return int(raw[b"v"]), json.loads(raw[b"data"])


def test_a_call_whose_webhooks_alternate_between_two_nodes_completes_with_its_rating(nodes, media):
    (a, b), transcriber, client = nodes
    transcriber.results.append(said("Wie verlängere ich meine Aufenthaltserlaubnis?", "de", 0.97))
    on_a, on_b = Phone(a, sid="CA-alt"), Phone(b, sid="CA-alt")
    code, root = on_a.post("/twilio/voice", From="+491511234567")
    assert code == 200 and record_action(root).endswith("/twilio/recording")
    assert on_b.audio_ok(root) == 3  # audio rendered on A, fetched from B (spoken again there from its recipe)
    code, root = on_b.post("/twilio/recording", From="+491511234567", RecordingUrl=media.url, RecordingDuration="4")
    assert code == 200 and on_a.audio_ok(root) >= 2
    code, root = on_a.post("/twilio/digits", From="+491511234567", Digits="#")
    assert root.find("Gather") is not None  # the rating question
    code, root = on_b.post("/twilio/digits", From="+491511234567", Digits="4")
    assert root.find("Hangup") is not None
    assert _state(client, "CA-alt")[1]["state"]["rating"] == 4
    on_a.post("/twilio/status", From="+491511234567", CallStatus="completed")
    assert not client.exists("hotline:call:CA-alt")  # forgotten at the end
    store = a.extensions["hotline_store"]
    (call,) = [c for c in map(store.get_call, store.list_calls()) if c["external_id"] == "CA-alt"]
    assert call["rating"] == 4 and call["end_reason"] == "completed"
    assert [t["topic"] for t in call["turns"]] == ["aufenthaltserlaubnis-verlaengern"]
    for key in client.scan_iter("hotline:*"):  # the caller's number is never written to Redis
        value = client.dump(key) or b""
        assert b"1234567" not in value


def test_two_webhooks_of_one_call_at_the_same_instant_on_two_nodes_lose_no_update(nodes):
    (a, b), _, client = nodes
    Phone(a, sid="CA-race").post("/twilio/voice", From="+491511234567")
    version, data = _state(client, "CA-race")
    assert data["state"]["phase"] == "listening" and data["state"]["retries"] == 0
    start = threading.Barrier(2)
    codes: list[int] = []

    def no_input(app) -> None:
        phone = Phone(app, sid="CA-race")
        start.wait()
        codes.append(phone.post("/twilio/noinput", From="+491511234567")[0])

    threads = [threading.Thread(target=no_input, args=(app,)) for app in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert codes == [200, 200]
    after, data = _state(client, "CA-race")
    assert after == version + 2  # one write each, one after the other
    assert data["state"]["retries"] == 2  # neither step overwrote the other's (a lost update would leave 1)


def test_a_write_from_a_stale_read_is_refused(redis_server):
    from voice.runtime.cluster.call_states import SharedCallStates, StaleState

    states = SharedCallStates(redis.Redis.from_url(redis_server.url))
    assert states.save("CA-x", 0, {"n": 1}) == 1
    assert states.save("CA-x", 1, {"n": 2}) == 2
    with pytest.raises(StaleState):
        states.save("CA-x", 1, {"n": 3})  # read at version 1, but version 2 was written meanwhile
    assert states.load("CA-x")[:2] == (2, {"n": 2})


def test_redis_stopped_for_ten_seconds_mid_call(nodes, media, redis_server):
    """A's copy carries its call through the outage and the rating is stored; a call that no node holds, or
    a new call, hears the apology and a person instead of an error; after Redis is back, calls work again."""
    (a, b), transcriber, client = nodes
    transcriber.results.append(said("Wie verlängere ich meine Aufenthaltserlaubnis?", "de", 0.97))
    on_a, on_b = Phone(a, sid="CA-outage"), Phone(b, sid="CA-outage")
    on_a.post("/twilio/voice", From="+491511234567")
    on_a.post("/twilio/recording", From="+491511234567", RecordingUrl=media.url, RecordingDuration="4")
    redis_server.stop()
    stopped = time.monotonic()
    code, root = on_b.post("/twilio/digits", From="+491511234567", Digits="#")  # B never saw this call
    assert code == 200 and _apology(root)
    code, root = Phone(b, sid="CA-new").post("/twilio/voice", From="+491519999999")
    assert code == 200 and _apology(root)
    code, root = on_a.post("/twilio/digits", From="+491511234567", Digits="#")  # A holds a copy
    assert code == 200 and root.find("Gather") is not None and on_a.audio_ok(root) >= 1
    code, root = on_a.post("/twilio/digits", From="+491511234567", Digits="5")
    assert root.find("Hangup") is not None
    time.sleep(max(0.0, 10.0 - (time.monotonic() - stopped)))
    redis_server.start()  # back, and empty (nothing kept on disk)
    assert on_a.post("/twilio/status", From="+491511234567", CallStatus="completed")[0] == 204
    store = a.extensions["hotline_store"]
    (call,) = [c for c in map(store.get_call, store.list_calls()) if c["external_id"] == "CA-outage"]
    assert call["rating"] == 5 and call["end_reason"] == "completed"
    code, root = Phone(b, sid="CA-after").post("/twilio/voice", From="+491511234567")
    assert code == 200 and record_action(root).endswith("/twilio/recording")  # a normal call again
    assert client.exists("hotline:call:CA-after")


def _apology(root) -> bool:
    """The spoken fallback: an apology, then a person (or the office's contacts)."""
    return root is not None and (root.find("Say") is not None or root.find("Play") is not None) and (
        root.find("Dial") is not None or root.find("Hangup") is not None)


def test_a_repeated_voice_webhook_of_a_handed_over_stream_keeps_its_record_and_node(stream_nodes):
    """Twilio repeats a voice webhook it got no answer to in time, maybe through another node: the call
    keeps the one record and the node its stream was handed to, instead of a second record elsewhere."""
    a, b = stream_nodes
    a.extensions["hotline_nodes"].leave()  # A answers webhooks but takes no streams: B is picked
    b.extensions["hotline_nodes"].beat()
    streams = []
    for app in (a, a, b):  # the first webhook, its repeat on the same node, and one on the other node
        code, root = Phone(app, sid="CA-repeat").post("/twilio/voice", From="+491511234567",
                                                       CallStatus="ringing")
        stream = root.find("Connect/Stream") if root is not None else None
        assert code == 200 and stream is not None, code
        streams.append(stream.get("url", ""))
    assert streams == ["ws://node-b.test/twilio/stream"] * 3
    store = a.extensions["hotline_store"]
    records = [c for c in map(store.get_call, store.list_calls()) if c["external_id"] == "CA-repeat"]
    assert len(records) == 1
