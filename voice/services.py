"""The engines a call needs, bundled; built by the composition root (``app.create_services``)."""

from __future__ import annotations

from dataclasses import dataclass

from voice.config import Settings
from voice.engine_types import EngineConfig
from voice.languages import DEFAULT_LANGUAGE, LANGUAGES, spoken_language
from voice.phrases import Phrases
from voice.ports import Answerer, Transcriber
from voice.tts.cache import CachedSynthesizer


@dataclass
class Services:
    settings: Settings
    transcriber: Transcriber
    answerer: Answerer
    synthesizer: CachedSynthesizer
    phrases: Phrases

    def warm_up(self) -> None:
        """Load every model once; a broken model or knowledge base fails here, at start-up."""
        self.transcriber.warm_up()
        self.answerer.warm_up()
        self.synthesizer.warm_up()

    def voice_fallbacks(self) -> dict[str, str]:
        """Languages without a voice, mapped to the language spoken instead (documented rule)."""
        out = {}
        for code in LANGUAGES:
            try:
                spoken, fell_back = spoken_language(code, self.synthesizer.has_voice)
            except LookupError:  # neither a voice nor a fallback voice: the office language
                spoken, fell_back = DEFAULT_LANGUAGE, True
            if fell_back:
                out[code] = spoken
        return out

    def engine_config(self) -> EngineConfig:
        s = self.settings
        return EngineConfig(
            max_turns=s.max_turns,
            language_confirm_below=s.language_confirm_below,
            voice_fallbacks=self.voice_fallbacks(),
        )
