"""Two real hotline nodes (``app.py serve``, gunicorn, real Whisper) in Media Streams mode, sharing a
private Redis and one PostgreSQL database: SIGTERM drains a node without dropping its call."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from urllib.parse import urlparse

import pytest
from sqlalchemy import create_engine, text

from tests.servers import free_port, server_log, start_hotline, stream_mode_env
from tools.load_client import StreamCaller, trim_silence

pytestmark = pytest.mark.slow
TOKEN = "cluster-stream-token"


def _health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture()
def two_nodes(tmp_path, postgres_url, redis_server):
    ports = [free_port(), free_port()]
    procs = []
    for i, port in enumerate(ports):
        folder = tmp_path / f"node{i}"
        folder.mkdir()
        env = {**stream_mode_env(folder, port, TOKEN),
               "HOTLINE_DATABASE_URL": postgres_url, "HOTLINE_REDIS_URL": redis_server.url,
               "HOTLINE_CALLER_HASH_KEY": "cluster-test-secret",
               "HOTLINE_PUBLIC_BASE_URL": f"http://127.0.0.1:{ports[0]}",  # node 0 plays the load balancer
               "HOTLINE_NODE_URL": f"http://127.0.0.1:{port}", "HOTLINE_DRAIN_GRACE_S": "120"}
        procs.append(start_hotline(env, port))
    yield ports, procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def _turns(url: str, sid: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT t.outcome FROM turns t JOIN calls c ON c.id = t.call_id "
                                          "WHERE c.external_id = :sid"), {"sid": sid}).scalars())
    finally:
        engine.dispose()


def _stream_port(caller: StreamCaller) -> int:
    root = caller.post(f"{caller.base_url}/twilio/voice", CallStatus="ringing")
    stream = root.find("Connect/Stream")
    assert stream is not None, ET.tostring(root)
    caller.action_url = root.find("Connect").get("action", "")
    caller.connect(stream.get("url", ""), {p.get("name", ""): p.get("value", "") for p in stream.iter("Parameter")})
    return int(urlparse(stream.get("url", "")).port or 0)


def test_sigterm_drains_a_node_its_call_finishes_new_calls_go_to_the_other_node(two_nodes, postgres_url):
    from voice.stages.tts.espeak import EspeakSynthesizer

    ports, procs = two_nodes
    balancer = f"http://127.0.0.1:{ports[0]}"
    first = StreamCaller(balancer, TOKEN, "CAdrain1")
    second = StreamCaller(balancer, TOKEN, "CAdrain2")
    try:
        holder = _stream_port(first)
        assert holder in ports
        first.wait_for_media(0.0, timeout=60)  # the greeting: the call runs on ``holder``
        draining = procs[ports.index(holder)]
        draining.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _health(holder)[0] != 503:
            assert time.monotonic() < deadline, "the node did not start draining"
            time.sleep(0.2)
        assert _health(holder)[1]["status"] == "draining"
        other = ports[1 - ports.index(holder)]
        assert _stream_port(second) == other  # a new call goes to the node that is not draining
        second.wait_for_media(0.0, timeout=60)
        second.hang_up()

        question = trim_silence(EspeakSynthesizer().synthesize("Wie kann ich meine Aufenthaltserlaubnis "
                                                               "verlängern?", "de").audio)
        time.sleep(1.0)
        spoken = first.say(question)
        first.wait_for_media(spoken, timeout=60)  # answered (or asked to confirm) by the draining node
        time.sleep(4.0)
        if not _turns(postgres_url, "CAdrain1"):  # "is your question about …?": the caller confirms with 1
            first.press("1")
            time.sleep(6.0)
            assert _turns(postgres_url, "CAdrain1"), server_log(draining)
        first.wait_quiet(timeout=120)
        first.press("#")
        time.sleep(2.0)
        first.press("4")
        try:
            first.wait_closed(timeout=60)
        except TimeoutError as exc:
            raise AssertionError(f"turns {_turns(postgres_url, 'CAdrain1')}; {server_log(draining)}") from exc
        first.stream_ended()
        assert draining.wait(timeout=60) == 0, server_log(draining)  # exits once its call is over
        assert procs[ports.index(other)].poll() is None
    finally:
        first.close()
        second.close()
    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT external_id, end_reason FROM calls")).fetchall())
        rating = conn.execute(text("SELECT rating FROM calls WHERE external_id = 'CAdrain1'")).scalar()
    engine.dispose()
    assert rows["CAdrain1"] == "completed" and rating == 4
    assert "drained: every call ended" in server_log(draining, tail=20000)
