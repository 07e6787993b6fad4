"""Choosing the speech engines from the settings.

eSpeak NG ships offline and is always the last engine of every chain. Coqui TTS (natural voices,
``requirements-coqui.txt``) is imported lazily, so the default install stays small. With the default
settings only eSpeak NG speaks, except that the languages it cannot speak (Pashto, Somali) use their
documented Coqui voice whenever Coqui TTS is installed and that voice has been downloaded.
"""

from __future__ import annotations

from pathlib import Path

from voice.core.languages import LANGUAGES
from voice.core.ports import Synthesizer
from voice.runtime.config import Settings
from voice.stages.tts.coqui import DEFAULT_VOICES, VoiceSpec, catalogue_dir, coqui_installed, parse_voice_map
from voice.stages.tts.engines import parse_engines, parse_language_engines


def coqui_models_dir(settings: Settings) -> Path:
    return settings.coqui_models_dir if str(settings.coqui_models_dir) not in ("", ".") else settings.data_dir / "coqui"


def engine_plan(settings: Settings) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """The default chain and the per-language chains the settings ask for (before any model is loaded)."""
    order = parse_engines(settings.tts_engine)
    by_language = parse_language_engines(settings.tts_language_engines)
    uses_coqui = "coqui" in order or any("coqui" in chain for chain in by_language.values())
    if not uses_coqui and coqui_installed():
        voices = coqui_voices(settings)
        models = coqui_models_dir(settings)
        for code, lang in LANGUAGES.items():
            spec = voices.get(code)
            if lang.espeak_voice is None and spec is not None and code not in by_language:
                local = catalogue_dir(models, spec.model) if spec.is_catalogue_name else Path(spec.model)
                if local.exists():
                    by_language[code] = ("coqui", "espeak")
    return order, by_language


def coqui_voices(settings: Settings) -> dict[str, VoiceSpec]:
    """``HOTLINE_COQUI_VOICES``, or the documented default voices when it is empty."""
    if settings.coqui_voices.strip():
        return dict(parse_voice_map(settings.coqui_voices))
    return {lang: VoiceSpec.parse(model) for lang, model in DEFAULT_VOICES.items()}


def make_synthesizer(settings: Settings) -> Synthesizer:
    from voice.stages.tts.espeak import EspeakSynthesizer

    espeak = EspeakSynthesizer(rate_wpm=settings.tts_rate_wpm)
    order, by_language = engine_plan(settings)
    if order == ("espeak",) and all(chain == ("espeak",) for chain in by_language.values()):
        return espeak
    from voice.stages.tts.chain import EngineChain
    from voice.stages.tts.coqui import CoquiSynthesizer

    coqui = CoquiSynthesizer(
        coqui_voices(settings),
        models_dir=coqui_models_dir(settings),
        device=settings.coqui_device,
        download=settings.coqui_download,
    )
    return EngineChain({"coqui": coqui, "espeak": espeak}, order, by_language)
