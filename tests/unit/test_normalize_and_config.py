"""Text normalisation for listening; settings validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice.core.languages import LANGUAGES, spoken_language
from voice.runtime.config import ConfigError, Settings
from voice.stages.tts.normalize import speakable

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def test_legal_citation_is_spoken_in_words():
    assert speakable("§ 81 Abs. 4 AufenthG", "de") == "Paragraf 81 Absatz 4 Aufenthaltsgesetz"
    assert speakable("§§ 27, 29 AufenthG", "en") == "section 27, 29 Aufenthaltsgesetz"


def test_contact_details_are_spelled_out():
    out = speakable("Mail an info@stadt.example oder www.stadt.example/termine, Tel. +49 30 12345 0", "de")
    assert "info at stadt Punkt example" in out
    assert "www Punkt stadt Punkt example Schrägstrich termine" in out
    assert "plus 4 9 3 0 1 2 3 4 5 0" in out


def test_dates_and_amounts():
    assert speakable("Stand: 2026-11-01", "de") == "Stand: 1.11.2026"
    assert speakable("mindestens 50700 € im Jahr 2026", "de") == "mindestens 50700 Euro im Jahr 2026"
    assert speakable("at least 50700 EUR", "en") == "at least 50700 euros"


def test_every_language_has_normalisation_words():
    for code in LANGUAGES:
        assert "§" not in speakable("§ 8", code)


def test_voice_fallback_rule():
    has = {"de", "fa", "en"}.__contains__
    assert spoken_language("de", has) == ("de", False)
    assert spoken_language("ps", has) == ("fa", True)
    assert spoken_language("so", has) == ("en", True)
    with pytest.raises(LookupError):
        spoken_language("ti", has)


def test_settings_from_env_and_all_problems_at_once():
    env = {
        "HOTLINE_PROMPTS_DIR": str(ROOT / "prompts"),
        "HOTLINE_OFFICE_PROFILE": str(ROOT / "prompts/office.example.yaml"),
        "HOTLINE_MAX_TURNS": "5",
        "HOTLINE_WHISPER_VOCABULARY": "off",
    }
    s = Settings.from_env(env)
    assert s.max_turns == 5 and s.whisper_vocabulary is False
    bad = {**env, "HOTLINE_MAX_TURNS": "many", "HOTLINE_TTS_ENGINE": "robot", "HOTLINE_PORT": "x"}
    with pytest.raises(ConfigError) as err:
        Settings.from_env(bad)
    message = str(err.value)
    assert "HOTLINE_MAX_TURNS" in message and "HOTLINE_TTS_ENGINE" in message and "HOTLINE_PORT" in message


def test_a_node_of_several_needs_postgresql_a_shared_secret_and_the_public_address():
    alone = Settings.from_env({}, prompts_dir=Path("prompts"))
    assert alone.node_problems() == []
    sqlite = Settings.from_env({"HOTLINE_REDIS_URL": "redis://127.0.0.1:6379/0"})
    problems = "\n".join(sqlite.node_problems())
    for needed in ("PostgreSQL", "HOTLINE_CALLER_HASH_KEY", "HOTLINE_PUBLIC_BASE_URL"):
        assert needed in problems
    ready = Settings.from_env({
        "HOTLINE_REDIS_URL": "redis://127.0.0.1:6379/0", "HOTLINE_DATABASE_URL": "postgresql+psycopg://db/hotline",
        "HOTLINE_CALLER_HASH_KEY": "s3cret", "HOTLINE_PUBLIC_BASE_URL": "https://hotline.example"})
    assert ready.node_problems() == []
    assert "HOTLINE_REDIS_URL" in Settings.from_env({"HOTLINE_ASR_QUEUE": "true"}).node_problems()[0]
