"""eSpeak NG (bundled by espeakng-loader): every supported language gives valid telephone audio."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from voice.core.languages import LANGUAGES
from voice.core.ports import NoVoiceError
from voice.stages.audio import load_audio
from voice.stages.tts.cache import CachedSynthesizer
from voice.stages.tts.espeak import EspeakSynthesizer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def espeak():
    synth = EspeakSynthesizer()
    synth.warm_up()
    return synth


@pytest.fixture(scope="module")
def phrases():
    from pathlib import Path

    from pipeline.content import load_content
    from voice.runtime.phrases import load_phrases

    root = Path(__file__).resolve().parents[2] / "prompts"
    content = load_content(root / "office.example.yaml", root / "figures.yaml")
    return load_phrases(root / "phrases", tuple(LANGUAGES), content)


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_every_language_with_a_voice_gives_telephone_audio(espeak, phrases, tmp_path, code):
    cache = CachedSynthesizer(espeak, tmp_path)
    text = phrases.say("ask_question", code)
    if not espeak.has_voice(code):
        assert LANGUAGES[code].speech_fallback, f"{code} has neither a voice nor a documented fallback"
        with pytest.raises(NoVoiceError):
            espeak.synthesize(text, code)
        return
    rendered = cache.render(text, code, "ulaw8k")
    info = sf.info(io.BytesIO(rendered.data))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "ULAW", 8000, 1)
    clip = load_audio(rendered.data)
    assert 0.8 < clip.duration_s < 20, "a short prompt should take seconds, not milliseconds or minutes"
    rms = float(np.sqrt(np.mean(clip.samples**2)))
    assert rms > 0.02 and np.abs(clip.samples).max() <= 1.0
    wide = load_audio(cache.render(text, code, "pcm16k").data)
    assert wide.sample_rate == 16000


def test_voice_parameters_do_not_leak_between_voices(espeak):
    before = espeak.synthesize("Guten Tag, wie kann ich helfen?", "de").audio.duration_s
    espeak.synthesize("Добрий день, чим можу допомогти?", "uk")
    after = espeak.synthesize("Guten Tag, wie kann ich helfen?", "de").audio.duration_s
    assert abs(before - after) < 0.05
