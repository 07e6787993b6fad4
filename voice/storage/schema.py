"""Tables, and the versioned migrations that create or upgrade them.

Each migration is a function applied once, in order, inside a transaction; the applied version is kept
in ``schema_version``. ``migrate(engine)`` brings an empty or an older database to the current version
and never touches data it does not need to.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine

metadata = MetaData()

calls = Table(
    "calls",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("external_id", String(64), unique=True, nullable=True),  # e.g. Twilio CallSid, SIP Call-ID
    Column("transport", String(16), nullable=False),
    Column("caller_hash", String(64), nullable=True),  # keyed hash, never the number itself
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("end_reason", String(32), nullable=True),
    Column("language", String(8), nullable=True),
    Column("handovers", Integer, nullable=False, default=0),
    Column("rating", Integer, nullable=True),
    Column("rated_at", DateTime(timezone=True), nullable=True),
)

turns = Table(
    "turns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", String(36), ForeignKey("calls.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("turn", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("status", String(20), nullable=False),
    Column("transcript", Text, nullable=True),
    Column("language", String(8), nullable=True),
    Column("language_probability", Float, nullable=True),
    Column("topic", String(80), nullable=True),
    Column("handover", Boolean, nullable=False, default=False),
    Column("score", Float, nullable=True),
    Column("answer_language", String(8), nullable=True),
    Column("asr_ms", Float, nullable=True),
    Column("retrieval_ms", Float, nullable=True),
    Column("tts_ms", Float, nullable=True),
    Column("audio_path", String(255), nullable=True),
    # version 2: streaming transports (Media Streams, SIP)
    Column("interrupted", Boolean, nullable=False, default=False),  # the caller spoke over the answer
    Column("endpoint_ms", Float, nullable=True),  # last voiced frame to end of utterance detected
    Column("first_audio_ms", Float, nullable=True),  # end of utterance detected to first answer frame sent
    # version 3: call recording and replay (what was answered, and the hotline's own side when kept)
    Column("answer_text", Text, nullable=True),  # the answer read to the caller (empty for a hand-over)
    Column("answer_audio_path", String(255), nullable=True),  # the hotline's side of the turn, when recorded
    # version 5: answer, confirm or hand over (and how sure recognition was)
    Column("outcome", String(12), nullable=True),  # answer, confirm, handover, keypad
    Column("confirm_offered", String(200), nullable=True),  # topics a confirmation offered, comma-separated
    Column("confirm_choice", String(12), nullable=True),  # the caller's reply: 1, 2, no, person
    Column("asr_logprob", Float, nullable=True),  # recognition's mean token log-probability
    # version 7: short answers first (what the caller did next: details, repeat), comma-separated in order
    Column("followups", String(60), nullable=True),
    Column("sms_status", String(16), nullable=True),  # the written answer by SMS: sent, refused, failed, delivered …
    Column("sms_segments", Integer, nullable=True),
    Column("sms_id", String(64), nullable=True, index=True),  # the messaging service's id (its delivery reports)
)

# version 4: the QA dashboard (named accounts, and who listened to which recording)
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),  # werkzeug scrypt hash, never the password
    Column("role", String(16), nullable=False),  # viewer or editor
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_login_at", DateTime(timezone=True), nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("user_name", String(64), nullable=False),
    Column("action", String(32), nullable=False),  # listen, login, review, replay, export, ...
    Column("call_id", String(36), nullable=True, index=True),  # no foreign key: survives the call's deletion
    Column("turn", Integer, nullable=True),
    Column("detail", String(255), nullable=True),
)

# version 6: dashboard sessions kept on the server, so that logging out or a new password ends them
dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # SHA-256 of the cookie's token, never the token
    Column("user_name", String(64), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True), nullable=True),
)

schema_version = Table("schema_version", metadata, Column("version", Integer, primary_key=True))


def _v1(conn: Connection) -> None:
    for table in (calls, turns):  # the version-1 tables only: later tables come with their own step
        table.create(conn, checkfirst=True)


def _add_turn_columns(conn: Connection, added: dict[str, str]) -> None:
    """Add the columns a database created at an older version lacks (a newer one has them already)."""
    present = {c["name"] for c in inspect(conn).get_columns("turns")}
    for name, ddl in added.items():
        if name not in present:
            conn.execute(text(f"ALTER TABLE turns ADD COLUMN {name} {ddl}"))


def _v2(conn: Connection) -> None:
    """Turn columns for streaming calls."""
    _add_turn_columns(
        conn, {"interrupted": "BOOLEAN NOT NULL DEFAULT FALSE", "endpoint_ms": "FLOAT", "first_audio_ms": "FLOAT"}
    )


def _v3(conn: Connection) -> None:
    """Turn columns for recorded calls and their replay."""
    _add_turn_columns(conn, {"answer_text": "TEXT", "answer_audio_path": "VARCHAR(255)"})


def _v4(conn: Connection) -> None:
    """Dashboard accounts and the audit log."""
    for table in (users, audit_log):
        table.create(conn, checkfirst=True)


def _v5(conn: Connection) -> None:
    """Turn columns for the confirmation of a topic and recognition's confidence."""
    added = {"outcome": "VARCHAR(12)", "confirm_offered": "VARCHAR(200)", "confirm_choice": "VARCHAR(12)"}
    _add_turn_columns(conn, {**added, "asr_logprob": "FLOAT"})


def _v6(conn: Connection) -> None:
    """Dashboard sessions on the server."""
    dashboard_sessions.create(conn, checkfirst=True)


def _v7(conn: Connection) -> None:
    """Turn columns for what followed a short answer, and the SMS of the written answer (never its number)."""
    added = {"followups": "VARCHAR(60)", "sms_status": "VARCHAR(16)", "sms_segments": "INTEGER"}
    _add_turn_columns(conn, {**added, "sms_id": "VARCHAR(64)"})
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_turns_sms_id ON turns (sms_id)"))


MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7]
CURRENT_VERSION = len(MIGRATIONS)


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table("schema_version"):
        return 0
    return int(conn.execute(select(schema_version.c.version)).scalar() or 0)


MIGRATION_LOCK = 0x686F746C696E65  # "hotline": PostgreSQL advisory lock held while one node migrates


def migrate(engine: Engine) -> int:
    """Apply every pending migration; returns the version the database is at afterwards.

    Several nodes may start at once against one PostgreSQL database: each takes a transaction-level
    advisory lock first, so one migrates while the others wait and then find nothing left to do (without
    it, two of them creating ``schema_version`` at once failed on a duplicate type). SQLite serialises
    writers by itself.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        schema_version.create(conn, checkfirst=True)
        version = current_version(conn)
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            step(conn)
            conn.execute(schema_version.delete())
            conn.execute(schema_version.insert().values(version=number))
            version = number
    return version
