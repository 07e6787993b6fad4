"""Dashboard sessions on the server: the cookie holds a random token, the database its hash and its life.

A session ends at logout, when its user's password changes or the account is removed, and at the latest
a fixed time after the login (not after the last click). Ended and expired rows are kept out of the way
by ``prune``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete, or_, select, update
from sqlalchemy.engine import Engine

from voice.storage.schema import dashboard_sessions


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    def __init__(self, engine: Engine, lifetime: dt.timedelta) -> None:
        self.engine, self.lifetime = engine, lifetime

    def start(self, user_name: str) -> str:
        """A new session for ``user_name``; returns the token for the cookie."""
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(dashboard_sessions.insert().values(id=_key(token), user_name=user_name, created_at=_now()))
        return token

    def user(self, token: str) -> str | None:
        """The user of a live session, or None (unknown, ended or older than the lifetime)."""
        if not token:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                select(dashboard_sessions.c.user_name, dashboard_sessions.c.created_at).where(
                    dashboard_sessions.c.id == _key(token), dashboard_sessions.c.ended_at.is_(None)
                )
            ).first()
        if row is None:
            return None
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=dt.UTC)
        return str(row.user_name) if _now() - created < self.lifetime else None

    def end(self, token: str) -> None:
        with self.engine.begin() as conn:
            ended = update(dashboard_sessions).where(dashboard_sessions.c.id == _key(token)).values(ended_at=_now())
            conn.execute(ended)

    def prune(self) -> int:
        """Delete sessions that ended or expired; returns how many."""
        cutoff = _now() - self.lifetime
        with self.engine.begin() as conn:
            stale = or_(dashboard_sessions.c.ended_at.is_not(None), dashboard_sessions.c.created_at < cutoff)
            return int(conn.execute(delete(dashboard_sessions).where(stale)).rowcount)


def end_user_sessions(engine: Engine, user_name: str) -> int:
    """End every session of ``user_name`` (a new password, a removed account); returns how many."""
    with engine.begin() as conn:
        return int(
            conn.execute(
                update(dashboard_sessions)
                .where(dashboard_sessions.c.user_name == user_name, dashboard_sessions.c.ended_at.is_(None))
                .values(ended_at=_now())
            ).rowcount
        )
