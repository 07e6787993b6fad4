"""The call store on real databases: SQLite and the PostgreSQL server on this machine."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PG_ADMIN
from voice.storage.schema import CURRENT_VERSION, migrate
from voice.storage.store import SqlCallStore, TurnRecord, caller_hash

pytestmark = pytest.mark.integration
KEY = b"test-key"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'calls.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    s = SqlCallStore(url, tmp_path / "spool.jsonl", KEY)
    s.warm_up()
    yield s
    if request.param == "postgresql":
        with s.engine.begin() as conn:
            conn.execute(text("DELETE FROM turns"))
            conn.execute(text("DELETE FROM calls"))
    s.engine.dispose()


def test_a_whole_call_is_recorded(store, tmp_path):
    call_id = store.start_call("twilio", external_id="CA123", caller="+49 151 2345678")
    audio = tmp_path / "q1.wav"
    audio.write_bytes(b"RIFF")
    store.record_turn(
        call_id,
        TurnRecord(
            1,
            "ok",
            "Wie verlängere ich?",
            "de",
            0.98,
            "aufenthaltserlaubnis-verlaengern",
            False,
            0.93,
            "de",
            900.0,
            55.0,
            40.0,
            str(audio),
        ),
    )
    store.store_rating(call_id, 4)
    store.end_call(call_id, "completed", "de", handovers=0)
    call = store.get_call(call_id)
    assert call["rating"] == 4 and call["end_reason"] == "completed" and call["external_id"] == "CA123"
    assert call["caller_hash"] == caller_hash("+491512345678", KEY)
    assert "2345678" not in str(call)  # the number itself is nowhere
    assert [t["topic"] for t in call["turns"]] == ["aufenthaltserlaubnis-verlaengern"]
    assert call["turns"][0]["asr_ms"] == 900.0


def test_withheld_numbers_are_not_hashed():
    assert caller_hash("anonymous", KEY) is None and caller_hash(None, KEY) is None
    assert caller_hash("+266696687", KEY) is None
    assert caller_hash("+4930123", KEY) != caller_hash("+4930123", b"other key")


def test_invalid_rating_is_refused(store):
    call_id = store.start_call("sip")
    with pytest.raises(ValueError):
        store.store_rating(call_id, 9)


def test_retention_purges_old_transcripts_and_recordings(store, tmp_path):
    call_id = store.start_call("twilio")
    audio = tmp_path / "old.wav"
    audio.write_bytes(b"RIFF")
    store.record_turn(call_id, TurnRecord(1, "ok", "alte Frage", audio_path=str(audio)))
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    result = store.purge(transcripts_before=future, recordings_before=future)
    assert (result.transcripts, result.recordings) == (1, 1)
    assert not audio.exists()
    turn = store.get_call(call_id)["turns"][0]
    assert turn["transcript"] is None and turn["audio_path"] is None and turn["status"] == "ok"


def test_retention_removes_both_sides_of_a_recorded_turn(store, tmp_path):
    call_id = store.start_call("twilio")
    caller, hotline = tmp_path / "caller.wav", tmp_path / "hotline.wav"
    for f in (caller, hotline):
        f.write_bytes(b"RIFF")
    store.record_turn(
        call_id, TurnRecord(1, "ok", "Frage", audio_path=str(caller), answer_audio_path=str(hotline), answer_text="A")
    )
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    assert store.purge(transcripts_before=past, recordings_before=past).recordings == 0  # still within retention
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    assert store.purge(transcripts_before=past, recordings_before=future).recordings == 1
    assert not caller.exists() and not hotline.exists()
    turn = store.get_call(call_id)["turns"][0]
    assert turn["audio_path"] is None and turn["answer_audio_path"] is None and turn["transcript"] == "Frage"


def test_calls_are_listed_by_date_range(store):
    first, second = store.start_call("twilio"), store.start_call("twilio")
    now = dt.datetime.now(dt.UTC)
    listed = store.list_calls(since=now - dt.timedelta(minutes=5), until=now + dt.timedelta(minutes=5))
    assert first in listed and second in listed
    assert store.list_calls(since=now + dt.timedelta(minutes=5)) == []


def test_delete_call_erases_everything(store):
    call_id = store.start_call("twilio")
    store.record_turn(call_id, TurnRecord(1, "ok", "Frage"))
    assert store.delete_call(call_id) is True
    assert store.get_call(call_id) is None


def test_migrations_upgrade_an_existing_database(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    assert migrate(engine) == CURRENT_VERSION
    assert migrate(engine) == CURRENT_VERSION  # idempotent: nothing re-applied


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_version_1_database_gains_the_streaming_columns_and_keeps_its_rows(request, tmp_path, backend):
    url = f"sqlite:///{tmp_path / 'v1.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    with engine.begin() as conn:  # a database as version 1 of the schema left it
        for table in ("turns", "calls", "audit_log", "users", "dashboard_sessions"):
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(text("DROP TABLE IF EXISTS schema_version"))
        conn.execute(text("CREATE TABLE schema_version (version INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO schema_version VALUES (1)"))
        conn.execute(text("CREATE TABLE calls (id VARCHAR(36) PRIMARY KEY, external_id VARCHAR(64), "
                          "transport VARCHAR(16) NOT NULL, caller_hash VARCHAR(64), started_at TIMESTAMP NOT NULL, "
                          "ended_at TIMESTAMP, end_reason VARCHAR(32), language VARCHAR(8), handovers INTEGER "
                          "NOT NULL, rating INTEGER, rated_at TIMESTAMP)"))
        conn.execute(text("CREATE TABLE turns (id INTEGER PRIMARY KEY, call_id VARCHAR(36) NOT NULL, turn INTEGER "
                          "NOT NULL, created_at TIMESTAMP NOT NULL, status VARCHAR(20) NOT NULL, transcript TEXT, "
                          "language VARCHAR(8), language_probability FLOAT, topic VARCHAR(80), handover BOOLEAN "
                          "NOT NULL, score FLOAT, answer_language VARCHAR(8), asr_ms FLOAT, retrieval_ms FLOAT, "
                          "tts_ms FLOAT, audio_path VARCHAR(255))"))
        conn.execute(text("INSERT INTO calls VALUES ('c1', 'CA1', 'twilio', NULL, '2026-01-01', NULL, NULL, 'de', 0, "
                          "5, NULL)"))
        conn.execute(text("INSERT INTO turns VALUES (1, 'c1', 1, '2026-01-01', 'ok', 'Frage', 'de', 0.9, 'x', "
                          "FALSE, 0.9, 'de', 1, 2, 3, NULL)"))
    assert migrate(engine) == CURRENT_VERSION == 7
    store = SqlCallStore(url, tmp_path / "spool.jsonl", KEY)
    store.update_turn("c1", 1, interrupted=True, first_audio_ms=412.0)
    call = store.get_call("c1")
    assert call is not None and call["rating"] == 5
    assert call["turns"][0]["transcript"] == "Frage" and call["turns"][0]["interrupted"] is True
    assert call["turns"][0]["first_audio_ms"] == 412.0 and call["turns"][0]["endpoint_ms"] is None
    assert call["turns"][0]["answer_text"] is None and call["turns"][0]["answer_audio_path"] is None  # version 3
    assert call["turns"][0]["outcome"] is None and call["turns"][0]["confirm_choice"] is None  # version 5
    assert call["turns"][0]["followups"] is None and call["turns"][0]["sms_id"] is None  # version 7
    with pytest.raises(ValueError):
        store.update_turn("c1", 1, transcript="rewritten")  # only what is learnt after the turn
    with engine.begin() as conn:
        for table in ("turns", "calls", "audit_log", "users", "schema_version"):
            conn.execute(text(f"DROP TABLE {table}"))
    engine.dispose()
    store.engine.dispose()


def test_rating_survives_a_database_outage(tmp_path):
    folder = tmp_path / "db"
    folder.mkdir()
    store = SqlCallStore(f"sqlite:///{folder / 'calls.db'}", tmp_path / "spool.jsonl", KEY)
    store.warm_up()
    call_id = store.start_call("twilio")
    folder.rename(tmp_path / "db-away")  # the database disappears
    store.store_rating(call_id, 5)  # must not raise
    store.end_call(call_id, "completed")
    assert (tmp_path / "spool.jsonl").is_file()
    assert store.flush() == 0  # still down
    (tmp_path / "db-away").rename(folder)  # back again
    assert store.flush() == 2
    call = store.get_call(call_id)
    assert call["rating"] == 5 and call["end_reason"] == "completed"
    assert not (tmp_path / "spool.jsonl").exists()


def test_a_reused_or_overlong_transport_id_still_starts_a_call(store):
    first = store.start_call("sip", external_id="same-call-id@pbx")
    second = store.start_call("sip", external_id="same-call-id@pbx")  # a SIP Call-ID used again later
    long_id = "x" * 40 + "@" + "pbx.example.org" * 10
    third = store.start_call("sip", external_id=long_id)
    ids = [store.get_call(c)["external_id"] for c in (first, second, third)]
    assert ids[0] == "same-call-id@pbx" and ids[1].startswith("same-call-id@pbx") and ids[1] != ids[0]
    assert len(ids[2]) <= 64 and ids[2].startswith("x" * 40)
    fourth = store.start_call("sip", external_id=long_id)
    assert store.get_call(fourth)["external_id"] not in ids and len(store.get_call(fourth)["external_id"]) <= 64


def test_several_nodes_starting_at_once_migrate_one_fresh_postgresql_database_once(tmp_path):
    """Four processes (as four nodes would) bring one fresh database up at the same moment."""
    name = f"hotline_parallel_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    start = tmp_path / "go"
    code = (
        "import sys, time, pathlib\n"
        "from sqlalchemy import create_engine\n"
        "from voice.storage.schema import migrate\n"
        "engine = create_engine(sys.argv[1])\n"
        "while not pathlib.Path(sys.argv[2]).exists(): time.sleep(0.005)\n"
        "print(migrate(engine))\n"
    )
    try:
        nodes = [subprocess.Popen([sys.executable, "-c", code, url, str(start)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        time.sleep(1.5)  # all four are connected and waiting
        start.touch()
        results = [node.communicate(timeout=60) for node in nodes]
        assert all(node.returncode == 0 for node in nodes), [err for _, err in results]
        assert {out.strip() for out, _ in results} == {str(CURRENT_VERSION)}
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
