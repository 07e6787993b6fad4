"""Knowledge-base format and validator, prompts, placeholders, the audio cache and the local driver."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from pipeline.content import load_content
from pipeline.knowledge import KnowledgeBaseError, lint, load_knowledge_base
from tests.fakes import SILENCE, FakeAnswerer, FakeSynthesizer, FakeTranscriber, said, tone
from voice.core.engine_types import CallStarted, UtteranceFinished
from voice.core.languages import LANGUAGES
from voice.runtime.config import Settings
from voice.runtime.driver import LocalDriver
from voice.runtime.phrases import PhraseError, load_phrases
from voice.runtime.services import Services
from voice.stages.tts.cache import CachedSynthesizer

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def content():
    return load_content(ROOT / "prompts/office.example.yaml", ROOT / "prompts/figures.yaml")


def test_shipped_knowledge_base_is_valid(content):
    kb = load_knowledge_base(ROOT / "prompts")
    assert len(kb.entries) >= 10
    assert set(kb.languages) == set(LANGUAGES)
    for entry in kb.entries.values():
        assert set(entry.answers) == set(LANGUAGES), entry.id
        assert entry.checked and entry.legal_basis is not None
    errors, _ = lint(kb, content)
    assert errors == []


def test_validator_lists_every_problem(tmp_path):
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts")
    faq = tmp_path / "prompts/faq"
    entry = yaml.safe_load((faq / "termin-vereinbaren.yaml").read_text())
    del entry["answer"]["tr"]
    entry["questions"]["de"] = entry["questions"]["de"][:2]
    entry["category"] = "weather"
    (faq / "termin-vereinbaren.yaml").write_text(yaml.safe_dump(entry, allow_unicode=True))
    (faq / "not-a-topic.yaml").write_text("id: not-a-topic\n")
    with pytest.raises(KnowledgeBaseError) as err:
        load_knowledge_base(tmp_path / "prompts")
    msg = str(err.value)
    assert "answer.tr.text is missing" in msg
    assert "questions.de has 2, needs at least 6" in msg
    assert "category 'weather'" in msg
    assert "not a topic of topics.yaml" in msg


def test_unknown_placeholder_is_an_error(tmp_path, content):
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts")
    path = tmp_path / "prompts/faq/termin-vereinbaren.yaml"
    entry = yaml.safe_load(path.read_text())
    entry["answer"]["en"]["text"] += " Call {office.fax}."
    path.write_text(yaml.safe_dump(entry, allow_unicode=True))
    errors, _ = lint(load_knowledge_base(tmp_path / "prompts"), content)
    assert any("{office.fax}" in e for e in errors)


def test_placeholders_and_figures_are_filled(content):
    assert content.fill("{office.email}", "de") == "auslaenderbehoerde@musterstadt.example"
    assert content.figure_text("blue_card_salary_shortage", "de") == "45934,20"
    assert content.figure_text("blue_card_salary_shortage", "en") == "45934.20"
    assert content.fill("{digit}", "de", digit="3") == "3"


def test_all_19_phrase_files_are_complete(content):
    phrases = load_phrases(ROOT / "prompts/phrases", tuple(LANGUAGES), content)
    assert set(phrases.by_language) == set(LANGUAGES)
    assert phrases.say("language_menu_item", "de", language="tr", digit="3") == "Für Türkçe drücken Sie die 3."
    assert "{" not in phrases.say("out_of_hours", "ar")


def test_missing_phrase_key_is_reported(tmp_path, content):
    shutil.copytree(ROOT / "prompts/phrases", tmp_path / "phrases")
    data = yaml.safe_load((tmp_path / "phrases/tr.yaml").read_text())
    del data["goodbye"]
    (tmp_path / "phrases/tr.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(PhraseError, match="tr.yaml: missing keys goodbye"):
        load_phrases(tmp_path / "phrases", tuple(LANGUAGES), content)


def test_audio_cache_is_content_addressed_and_atomic(tmp_path):
    inner = FakeSynthesizer()
    cache = CachedSynthesizer(inner, tmp_path / "cache")
    first = cache.render("Guten Tag", "de")
    again = cache.render("Guten Tag", "de")
    assert not first.cached and again.cached and first.data == again.data
    assert len(inner.calls) == 1
    assert cache.lookup(first.key) == first.path and first.path.read_bytes()[:4] == b"RIFF"
    assert cache.render("Guten Tag", "en").key != first.key
    assert cache.lookup("../../etc/passwd") is None
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_audio_cache_failure_falls_back_to_live_audio(tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    rendered = CachedSynthesizer(FakeSynthesizer(), blocker).render("Hallo", "de")
    assert rendered.path is None and rendered.data[:4] == b"RIFF"


def fake_services(tmp_path, transcriber, content) -> Services:
    settings = Settings.from_env({}, prompts_dir=ROOT / "prompts", office_profile=ROOT / "prompts/office.example.yaml")
    phrases = load_phrases(ROOT / "prompts/phrases", tuple(LANGUAGES), content)
    synth = CachedSynthesizer(FakeSynthesizer(), tmp_path / "cache")
    return Services(settings, transcriber, FakeAnswerer(), synth, phrases)


def test_warm_up_builds_the_engine_configuration_before_any_call(tmp_path, content):
    services = fake_services(tmp_path, FakeTranscriber(said("Hallo")), content)
    services.warm_up()  # parsing the knowledge base for the keypad menu takes ~1 s: never in a call's start
    assert services._engine_config is not None
    call = services.with_engines(services.transcriber, services.answerer)
    assert call.engine_config() is services._engine_config


def test_local_driver_runs_a_turn_through_the_engine(tmp_path, content):
    services = fake_services(tmp_path, FakeTranscriber(said("Wie verlängern?")), content)
    driver = LocalDriver(services)
    driver.feed(CallStarted("t1"))
    driver.feed(UtteranceFinished(tone()))
    assert driver.turns[0].answer.topic == "aufenthaltserlaubnis-verlaengern"
    heard = [item.text for item in driver.plays[-1][1]]
    assert "Antwort zu aufenthaltserlaubnis-verlaengern" in heard
    assert any("Paragraf" in t or "§ 81" in t for t in heard)
    assert set(driver.turns[0].timings_ms) >= {"asr", "retrieval", "tts"}


def test_local_driver_turns_a_crashing_stage_into_a_spoken_fallback(tmp_path, content):
    class Broken(FakeTranscriber):
        def transcribe(self, audio, language=None):
            raise RuntimeError("model crashed")

    services = fake_services(tmp_path, Broken(SILENCE), content)
    driver = LocalDriver(services)
    driver.feed(CallStarted("t2"))
    driver.feed(UtteranceFinished(tone()))
    texts = [i.text for i in driver.plays[-1][1]]
    assert texts[0] == services.phrases.say("technical_fallback", "de")
