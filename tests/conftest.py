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
