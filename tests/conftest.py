"""Shared fixtures: paths, fake engines satisfying the ports, and the real (session-wide) engines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SPEECH = DATA / "speech"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def faq_answerer():
    """The real Haystack FAQ pipeline over the shipped knowledge base (index cached under var/)."""
    from pipeline.answerer import FaqAnswerer, RetrievalOptions

    answerer = FaqAnswerer(
        RetrievalOptions(
            prompts_dir=ROOT / "prompts",
            office_profile=ROOT / "prompts/office.example.yaml",
            cache_dir=ROOT / "var/cache",
        )
    )
    answerer.warm_up()
    return answerer


@pytest.fixture(scope="session")
def whisper():
    from voice.stages.asr.whisper import WhisperTranscriber

    transcriber = WhisperTranscriber(model_dir=ROOT / "var/models")
    transcriber.warm_up()
    return transcriber


@pytest.fixture(scope="session")
def settings():
    from voice.runtime.config import Settings

    return Settings.from_env(
        {},
        prompts_dir=ROOT / "prompts",
        office_profile=ROOT / "prompts/office.example.yaml",
        data_dir=ROOT / "var",
    )


PG_ADMIN = os.environ.get("HOTLINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module")
def postgres_url():
    """A fresh database on the local PostgreSQL server (this machine's and CI's), dropped afterwards."""
    import uuid

    from sqlalchemy import create_engine, text

    name = f"hotline_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture()
def redis_server():
    """A private, empty Redis for one test (see ``tests.servers.RedisServer``)."""
    from tests.servers import RedisServer

    server = RedisServer().start()
    yield server
    server.stop()
