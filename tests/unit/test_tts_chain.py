"""Engine chains per language and the cache keys they produce (fakes only; Coqui itself: tests/coqui)."""

from __future__ import annotations

import logging

import pytest

from tests.fakes import FakeSynthesizer
from voice.core.domain import Speech
from voice.core.ports import NoVoiceError
from voice.qa.prerender import LanguageReport, PrerenderReport
from voice.runtime.config import ConfigError, Settings
from voice.stages.tts.cache import CachedSynthesizer
from voice.stages.tts.chain import EngineChain
from voice.stages.tts.coqui import VoiceSpec, parse_voice_map
from voice.stages.tts.engines import parse_engines, parse_language_engines

pytestmark = pytest.mark.unit


class Flaky(FakeSynthesizer):
    """A natural-voice stand-in whose model loaded but fails on every text."""

    name = "flaky"

    def synthesize(self, text: str, language: str) -> Speech:
        raise RuntimeError("out of memory")


def test_first_engine_with_a_voice_speaks_each_language():
    natural = FakeSynthesizer(voices=("de", "ps"))
    natural.name = "natural"
    basic = FakeSynthesizer(voices=("de", "en"))
    chain = EngineChain({"natural": natural, "basic": basic}, ("natural", "basic"), {"de": ("basic",)})
    assert chain.speaker("ps") == "natural" and chain.speaker("de") == "basic" and chain.speaker("en") == "basic"
    assert not chain.has_voice("so")
    assert chain.synthesize("x", "ps").engine == "natural"
    with pytest.raises(NoVoiceError):
        chain.synthesize("x", "so")
    assert chain.name == "natural+fake-tts"


def test_a_failing_voice_falls_back_once_warned_and_is_cached_under_the_fallback(tmp_path, caplog):
    basic = FakeSynthesizer(voices=("de",))
    chain = EngineChain({"flaky": Flaky(voices=("de",)), "basic": basic}, ("flaky", "basic"))
    cache = CachedSynthesizer(chain, tmp_path)
    with caplog.at_level(logging.WARNING):
        first = cache.render("Hallo", "de", "ulaw8k")
        second = cache.render("Tschüss", "de", "ulaw8k")
    assert first.engine == second.engine == "fake-tts" and first.path is not None
    assert first.key == CachedSynthesizer(basic, tmp_path).key("Hallo", "de", "ulaw8k")
    assert sum("falling back" in r.getMessage() for r in caplog.records) == 1
    assert cache.lookup(first.key) == first.path


def test_every_engine_failing_raises_no_voice_as_before(tmp_path):
    chain = EngineChain({"flaky": Flaky(voices=("de",))}, ("flaky",))
    with pytest.raises(NoVoiceError, match="out of memory"):
        CachedSynthesizer(chain, tmp_path).render("Hallo", "de", "ulaw8k")


def test_cache_key_depends_on_the_voice_identity(tmp_path):
    a, b = FakeSynthesizer(), FakeSynthesizer()
    b.version = "2"
    assert CachedSynthesizer(a, tmp_path).key("t", "de", "ulaw8k") != CachedSynthesizer(b, tmp_path).key(
        "t", "de", "ulaw8k"
    )


def test_engine_and_voice_settings_are_parsed_and_checked():
    assert parse_engines("coqui") == ("coqui", "espeak") == parse_engines("espeak,coqui")
    assert parse_engines("espeak") == ("espeak",)
    assert parse_language_engines("zh=espeak, ps=coqui") == {"zh": ("espeak",), "ps": ("coqui", "espeak")}
    voices = parse_voice_map("de=tts_models/de/thorsten/vits, tr=tts_models/multilingual/multi-dataset/xtts_v2#Ana")
    assert voices["tr"] == VoiceSpec("tts_models/multilingual/multi-dataset/xtts_v2", "Ana")
    assert voices["de"].is_catalogue_name and not VoiceSpec("/srv/voices/de").is_catalogue_name
    with pytest.raises(ConfigError) as err:
        Settings.from_env(
            {"HOTLINE_TTS_ENGINE": "festival", "HOTLINE_COQUI_VOICES": "de", "HOTLINE_TTS_LANGUAGE_ENGINES": "xx=coqui"}
        )
    for var in ("HOTLINE_TTS_ENGINE", "HOTLINE_COQUI_VOICES", "HOTLINE_TTS_LANGUAGE_ENGINES"):
        assert var in str(err.value)


def test_prerender_report_says_per_language_which_engine_spoke():
    report = PrerenderReport()
    report.languages["de"] = LanguageReport(cached=2, rendered=3)
    report.languages["de"].engines.update({"coqui": 4, "espeak-ng": 1})
    report.languages["ps"] = LanguageReport(rendered=1)
    report.languages["ps"].engines["coqui"] = 1
    lines = report.lines()
    assert lines[0] == "prerendered 6 clips: 2 already cached, 4 new"
    assert lines[1] == "  de: 5 clips (3 new) by coqui 4, espeak-ng 1"
    assert report["total"] == 6 and report["rendered"] == 4
