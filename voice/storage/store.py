"""``SqlCallStore``: the call record behind the ``CallStore`` port.

Writes that fail because the database is unreachable are spooled to a local JSON-lines file and
replayed, in order, before the next successful write (or by ``flush()``), so a rating given while the
database is briefly down is stored as soon as it is back. Caller numbers are kept only as a keyed
HMAC-SHA256; withheld numbers are not hashed at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from voice.storage.schema import calls, migrate, turns

log = logging.getLogger(__name__)
REFUSED = "busy"  # end reason of a call refused by admission control (all lines busy)
_WITHHELD = {"", "anonymous", "restricted", "unknown", "+266696687", "+7378742833", "+2562533", "+8656696"}


def caller_hash(number: str | None, key: bytes) -> str | None:
    """Keyed hash of a caller's number (None for withheld numbers): lets QA group repeat callers without
    storing who they are."""
    if number is None or number.strip().lower() in _WITHHELD:
        return None
    digits = "".join(ch for ch in number if ch.isdigit() or ch == "+")
    return hmac.new(key, digits.encode(), hashlib.sha256).hexdigest()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class TurnRecord:
    """One question and what the hotline did with it."""

    turn: int
    status: str
    transcript: str | None = None
    language: str | None = None
    language_probability: float | None = None
    topic: str | None = None
    handover: bool = False
    score: float | None = None
    answer_language: str | None = None
    asr_ms: float | None = None
    retrieval_ms: float | None = None
    tts_ms: float | None = None
    audio_path: str | None = None
    interrupted: bool = False
    endpoint_ms: float | None = None
    first_audio_ms: float | None = None
    answer_text: str | None = None
    answer_audio_path: str | None = None
    outcome: str | None = None  # answer, confirm, handover, keypad
    confirm_offered: str | None = None  # topics a confirmation offered, comma-separated
    confirm_choice: str | None = None  # the caller's reply: 1, 2, no, person
    asr_logprob: float | None = None  # recognition's confidence in the transcript


# turn fields a transport learns only after the turn was recorded (playback runs after the answer)
LATE_TURN_FIELDS = frozenset({"interrupted", "first_audio_ms", "followups", "sms_status", "sms_segments", "sms_id"})


@dataclass(frozen=True)
class PurgeResult:
    transcripts: int
    recordings: int


class SqlCallStore:
    """Calls, turns and ratings through SQLAlchemy; ``warm_up()`` connects and migrates once."""

    def __init__(self, url: str, spool_path: Path, hash_key: bytes) -> None:
        self.url = url
        self.spool_path = spool_path
        self._hash_key = hash_key
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            # SQLite connections are cheap: no pool, so a database that vanishes is noticed at once
            extra: dict[str, Any] = {"poolclass": NullPool} if self.url.startswith("sqlite") else {}
            self._engine = create_engine(self.url, pool_pre_ping=True, **extra)
        return self._engine

    def warm_up(self) -> None:
        """Connect and bring the schema up to date (fails fast at start-up if the URL is wrong)."""
        version = migrate(self.engine)
        log.info(
            "call store ready (%s, schema version %d)", self.engine.url.render_as_string(hide_password=True), version
        )

    # ---- writes (spooled when the database is unreachable) ------------------------------------

    def start_call(self, transport: str, external_id: str | None = None, caller: str | None = None) -> str:
        call_id = str(uuid.uuid4())
        self._write(
            "start_call",
            {
                "id": call_id,
                "external_id": external_id,
                "transport": transport,
                "caller_hash": caller_hash(caller, self._hash_key),
                "started_at": utcnow().isoformat(),
            },
        )
        return call_id

    def refuse_call(self, transport: str, caller: str | None = None) -> str:
        """A call that admission control did not take in: stored ended ``REFUSED`` and without turns, so
        that the dashboard counts refusals per day."""
        call_id = self.start_call(transport, None, caller)
        self.end_call(call_id, REFUSED)
        return call_id

    def record_turn(self, call_id: str, record: TurnRecord) -> None:
        self._write("record_turn", {"call_id": call_id, "created_at": utcnow().isoformat(), **asdict(record)})

    def update_turn(self, call_id: str, turn: int, **values: Any) -> None:
        """Add what was learnt after recording a turn: it was interrupted, when its audio started."""
        unknown = set(values) - LATE_TURN_FIELDS
        if unknown:
            raise ValueError(f"turn fields {sorted(unknown)} cannot be updated")
        self._write("update_turn", {"call_id": call_id, "turn": turn, **values})

    def store_rating(self, call_id: str, rating: int) -> None:
        if not 1 <= rating <= 5:
            raise ValueError(f"rating must be 1..5, got {rating}")
        self._write("store_rating", {"id": call_id, "rating": rating, "rated_at": utcnow().isoformat()})

    def sms_delivery(self, sms_id: str, status: str) -> None:
        """The messaging service's report on an SMS (delivered, undelivered, failed …), by its id."""
        self._write("sms_delivery", {"sms_id": sms_id, "sms_status": status[:16]})

    def end_call(self, call_id: str, reason: str, language: str | None = None, handovers: int = 0) -> None:
        self._write(
            "end_call",
            {
                "id": call_id,
                "end_reason": reason,
                "language": language,
                "handovers": handovers,
                "ended_at": utcnow().isoformat(),
            },
        )

    def _write(self, op: str, payload: dict[str, Any]) -> None:
        with self._lock:
            try:
                self._flush_locked()
                self._apply(op, payload)
            except OperationalError as exc:
                log.error(
                    "database unavailable (%s); spooling %s for call %s",
                    exc.__class__.__name__,
                    op,
                    payload.get("id") or payload.get("call_id"),
                )
                self._spool(op, payload)

    def flush(self) -> int:
        """Replay spooled writes; returns how many were applied (0 if the database is still down)."""
        with self._lock:
            try:
                return self._flush_locked()
            except OperationalError:
                return 0

    def _flush_locked(self) -> int:
        if not self.spool_path.is_file():
            return 0
        pending = [json.loads(line) for line in self.spool_path.read_text().splitlines() if line.strip()]
        for item in pending:
            self._apply(item["op"], item["payload"])
        self.spool_path.unlink()
        log.info("replayed %d spooled writes", len(pending))
        return len(pending)

    def _spool(self, op: str, payload: dict[str, Any]) -> None:
        self.spool_path.parent.mkdir(parents=True, exist_ok=True)
        with self.spool_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"op": op, "payload": payload}) + "\n")

    def _apply(self, op: str, payload: dict[str, Any]) -> None:
        p = {k: _parse_time(k, v) for k, v in payload.items()}
        with self.engine.begin() as conn:
            if op == "start_call":
                if p.get("external_id"):
                    p["external_id"] = _free_external_id(conn, p["external_id"])
                conn.execute(calls.insert().values(handovers=0, **p))
            elif op == "record_turn":
                conn.execute(turns.insert().values(**p))
            elif op == "update_turn":
                call_id, turn = p.pop("call_id"), p.pop("turn")
                conn.execute(update(turns).where(turns.c.call_id == call_id, turns.c.turn == turn).values(**p))
            elif op == "store_rating":
                conn.execute(
                    update(calls).where(calls.c.id == p["id"]).values(rating=p["rating"], rated_at=p["rated_at"])
                )
            elif op == "sms_delivery":
                conn.execute(update(turns).where(turns.c.sms_id == p["sms_id"]).values(sms_status=p["sms_status"]))
            elif op == "end_call":
                call_id = p.pop("id")
                conn.execute(update(calls).where(calls.c.id == call_id).values(**p))
            else:
                raise ValueError(f"unknown spooled operation {op!r}")

    # ---- reads and retention --------------------------------------------------------------------

    def get_call(self, call_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(calls).where(calls.c.id == call_id)).mappings().first()
            if row is None:
                return None
            rows = conn.execute(select(turns).where(turns.c.call_id == call_id).order_by(turns.c.turn)).mappings()
            return {**dict(row), "turns": [dict(r) for r in rows]}

    def list_calls(self, since: dt.datetime | None = None, until: dt.datetime | None = None) -> list[str]:
        """Ids of the calls started in ``[since, until)``, oldest first (for replay by date range)."""
        query = select(calls.c.id).order_by(calls.c.started_at)
        if since is not None:
            query = query.where(calls.c.started_at >= since)
        if until is not None:
            query = query.where(calls.c.started_at < until)
        with self.engine.connect() as conn:
            return [str(i) for i in conn.execute(query).scalars()]

    def purge(self, transcripts_before: dt.datetime, recordings_before: dt.datetime) -> PurgeResult:
        """Delete recordings (files and references, both sides of a turn) and transcripts older than the
        retention limits. ``recordings`` counts the turns whose audio was removed."""
        with self.engine.begin() as conn:
            old_audio = conn.execute(
                select(turns.c.id, turns.c.audio_path, turns.c.answer_audio_path).where(
                    turns.c.created_at < recordings_before,
                    or_(turns.c.audio_path.is_not(None), turns.c.answer_audio_path.is_not(None)),
                )
            ).all()
            for _, caller_side, hotline_side in old_audio:
                for path in (caller_side, hotline_side):
                    if path:
                        Path(path).unlink(missing_ok=True)
            if old_audio:
                conn.execute(
                    update(turns)
                    .where(turns.c.id.in_([row[0] for row in old_audio]))
                    .values(audio_path=None, answer_audio_path=None)
                )
            result = conn.execute(
                update(turns)
                .where(turns.c.created_at < transcripts_before, turns.c.transcript.is_not(None))
                .values(transcript=None)
            )
        return PurgeResult(transcripts=result.rowcount or 0, recordings=len(old_audio))

    def delete_call(self, call_id: str) -> bool:
        """Erase one call completely (a caller's deletion request)."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(turns.c.audio_path, turns.c.answer_audio_path).where(turns.c.call_id == call_id)
            ).all()
            for path in (p for row in rows for p in row):
                if path:
                    Path(path).unlink(missing_ok=True)
            conn.execute(delete(turns).where(turns.c.call_id == call_id))
            return bool(conn.execute(delete(calls).where(calls.c.id == call_id)).rowcount)


def _parse_time(key: str, value: Any) -> Any:
    if key.endswith("_at") and isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    return value


EXTERNAL_ID_LENGTH = 64  # the column's width


def _free_external_id(conn: Any, external_id: str) -> str:
    """The transport's call identifier as stored: fitted to the column, and made unique when it was seen
    before (a SIP Call-ID may be reused by a later call, or by a second dialog at the same time)."""
    base = external_id
    if len(base) > EXTERNAL_ID_LENGTH:
        digest = hashlib.sha256(base.encode()).hexdigest()[:16]
        base = f"{base[: EXTERNAL_ID_LENGTH - 17]}~{digest}"
    candidate, n = base, 1
    while conn.execute(select(calls.c.id).where(calls.c.external_id == candidate)).first() is not None:
        n += 1
        suffix = f"#{n}"
        candidate = base[: EXTERNAL_ID_LENGTH - len(suffix)] + suffix
    return candidate
