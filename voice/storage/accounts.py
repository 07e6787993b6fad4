"""Dashboard accounts and the audit log, in the same database as the calls.

Passwords are stored only as werkzeug scrypt hashes. The audit log records who listened to which
recording (and the other things worth knowing afterwards: log-ins, review changes, replays, exports).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from werkzeug.security import check_password_hash, generate_password_hash

from voice.storage.schema import audit_log, users
from voice.storage.sessions import end_user_sessions

ROLES = ("viewer", "editor")
MIN_PASSWORD_LENGTH = 10
# checked against when a name is unknown, so a wrong name takes as long as a wrong password
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class AccountError(ValueError):
    """An account cannot be created or changed as asked (the message says why)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")


class Accounts:
    """Named dashboard users with a role, and the audit log (``engine``: the call store's)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, name: str, password: str, role: str) -> None:
        name = name.strip()
        if not name or len(name) > 64 or any(ch.isspace() for ch in name):
            raise AccountError("a user name is 1 to 64 characters without spaces")
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        _check_password(password)
        with self.engine.begin() as conn:
            if conn.execute(select(users.c.id).where(users.c.name == name)).first() is not None:
                raise AccountError(f"user {name!r} exists already")
            conn.execute(
                users.insert().values(
                    name=name, password_hash=generate_password_hash(password), role=role, created_at=_now()
                )
            )

    def set_password(self, name: str, password: str) -> None:
        _check_password(password)
        with self.engine.begin() as conn:
            done = conn.execute(
                update(users).where(users.c.name == name).values(password_hash=generate_password_hash(password))
            ).rowcount
        if not done:
            raise AccountError(f"no user {name!r}")
        end_user_sessions(self.engine, name)  # signed in elsewhere with the old password: no longer

    def set_role(self, name: str, role: str) -> None:
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        with self.engine.begin() as conn:
            if not conn.execute(update(users).where(users.c.name == name).values(role=role)).rowcount:
                raise AccountError(f"no user {name!r}")

    def remove(self, name: str) -> bool:
        with self.engine.begin() as conn:
            found = bool(conn.execute(delete(users).where(users.c.name == name)).rowcount)
        end_user_sessions(self.engine, name)
        return found

    def get(self, name: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
        return dict(row) if row is not None else None

    def all(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(users).order_by(users.c.name)).mappings().all()
        return [{k: v for k, v in r.items() if k != "password_hash"} for r in rows]

    def verify(self, name: str, password: str) -> dict[str, Any] | None:
        """The user when ``password`` is theirs, else None (same work either way)."""
        user = self.get(name.strip())
        if user is None:
            check_password_hash(_DUMMY_HASH, password)
            return None
        if not check_password_hash(user["password_hash"], password):
            return None
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.id == user["id"]).values(last_login_at=_now()))
        return user

    # ---- audit log ---------------------------------------------------------------------------------

    def audit(
        self, user: str, action: str, call_id: str | None = None, turn: int | None = None, detail: str | None = None
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                audit_log.insert().values(
                    at=_now(), user_name=user, action=action, call_id=call_id, turn=turn,
                    detail=(detail or None) and detail[:255],
                )
            )

    def recent_audit(self, user: str, action: str, call_id: str | None, detail: str | None, within_s: float) -> bool:
        """Whether the same entry was written in the last ``within_s`` seconds (one playback = one entry,
        even when the browser fetches the file in several ranges)."""
        since = _now() - dt.timedelta(seconds=within_s)
        with self.engine.connect() as conn:
            count = conn.execute(
                select(func.count()).select_from(audit_log).where(
                    audit_log.c.user_name == user,
                    audit_log.c.action == action,
                    audit_log.c.call_id == call_id,
                    audit_log.c.detail == detail,
                    audit_log.c.at >= since,
                )
            ).scalar()
        return bool(count)

    def audit_entries(self, limit: int = 200, call_id: str | None = None) -> list[dict[str, Any]]:
        query = select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit)
        if call_id is not None:
            query = query.where(audit_log.c.call_id == call_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]
