"""Choosing the speech engine from the settings.

Only eSpeak NG ships offline; a production engine is one more module implementing the ``Synthesizer``
port, selected here by ``HOTLINE_TTS_ENGINE`` and imported lazily so the default install stays small.
"""

from __future__ import annotations

from voice.config import Settings
from voice.ports import Synthesizer


def make_synthesizer(settings: Settings) -> Synthesizer:
    from voice.tts.espeak import EspeakSynthesizer

    return EspeakSynthesizer(rate_wpm=settings.tts_rate_wpm)
