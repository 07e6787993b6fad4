"""Building the call store from the settings, including the caller-hash secret."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from voice.runtime.config import Settings
from voice.storage.store import SqlCallStore


def hash_key(settings: Settings) -> bytes:
    """The secret for caller-number hashes: from ``HOTLINE_CALLER_HASH_KEY``, else a random key created
    once in the data directory (readable by the service user only)."""
    if settings.caller_hash_key:
        return settings.caller_hash_key.encode()
    return _key_file(settings.data_dir / "caller_hash.key")


def session_key(settings: Settings) -> bytes:
    """The secret that signs dashboard session cookies: ``HOTLINE_DASHBOARD_SECRET_KEY``, else a random key
    created once in the data directory (a separate key: rotating it logs everyone out and nothing else)."""
    if settings.dashboard_secret_key:
        return settings.dashboard_secret_key.encode()
    return _key_file(settings.data_dir / "dashboard_session.key")


def _key_file(path: Path) -> bytes:
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return Path(path).read_text().strip().encode()


def make_store(settings: Settings) -> SqlCallStore:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqlCallStore(
        settings.effective_database_url, settings.data_dir / "spool" / "writes.jsonl", hash_key(settings)
    )
