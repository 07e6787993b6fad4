"""`simulate-call` against a real running server: real Whisper, real retrieval, real TTS, real HTTP,
a real database; the call and its rating end up stored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.servers import free_port, start_hotline

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_simulated_call_end_to_end(tmp_path):
    """The question is no immigration question: it is handed over. With the office closed (pinned here, not
    left to the clock: during opening hours a hand-over is a transfer and the call ends unrated) the caller
    hears the contact channels and rates."""
    office = yaml.safe_load((ROOT / "prompts/office.example.yaml").read_text(encoding="utf-8"))
    office["opening_hours"] = {day: "" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    (tmp_path / "office.yaml").write_text(yaml.safe_dump(office, allow_unicode=True), encoding="utf-8")
    port = free_port()
    env = {
        "HOTLINE_OFFICE_PROFILE": str(tmp_path / "office.yaml"),
        **os.environ,
        "HOTLINE_TWILIO_AUTH_TOKEN": "simulation-token",
        "HOTLINE_RECORDING_HOSTS": "http://127.0.0.1",  # simulate-call serves the recordings itself
        "HOTLINE_PORT": str(port),
        "HOTLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'calls.db'}",
        "HOTLINE_AUDIO_CACHE_DIR": str(tmp_path / "audio"),
    }
    server = start_hotline(env, port)
    try:
        question = ROOT / "tests/data/speech/leopard_test_de.wav"
        result = subprocess.run(
            [sys.executable, "app.py", "simulate-call", str(question), "--digits", "4"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert "caller asks: leopard_test_de.wav" in out and "asr=" in out  # per-stage timings came back
        assert "hotline heard [de " in out and "  outcome: " in out  # what it heard and what it did with it
        assert "caller rates 4" in out and "call completed" in out
    finally:
        server.terminate()
        server.wait(timeout=30)
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'calls.db'}")
    with engine.connect() as conn:
        call = conn.execute(text("SELECT id, rating, end_reason, caller_hash FROM calls")).one()
        turns = conn.execute(text("SELECT transcript, language FROM turns WHERE call_id = :i"), {"i": call.id}).all()
    assert call.rating == 4 and call.end_reason == "completed" and call.caller_hash
    assert turns and turns[0].language == "de" and turns[0].transcript
