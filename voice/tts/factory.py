"""Choosing the speech engine from the settings (Coqui is optional and imported lazily)."""

from __future__ import annotations

from voice.config import Settings
from voice.ports import Synthesizer


def make_synthesizer(settings: Settings) -> Synthesizer:
    if settings.tts_engine == "coqui":
        raise NotImplementedError(
            "HOTLINE_TTS_ENGINE=coqui: production Coqui voices are not wired in yet; use 'espeak'"
        )
    from voice.tts.espeak import EspeakSynthesizer

    return EspeakSynthesizer(rate_wpm=settings.tts_rate_wpm)
