"""The engines a call needs, bundled; built by the composition root (``app.create_services``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline.knowledge import CATEGORIES, load_knowledge_base
from voice.core.engine_types import EngineConfig
from voice.core.languages import DEFAULT_LANGUAGE, LANGUAGES, spoken_language
from voice.core.outcome import OutcomePolicy
from voice.core.ports import Answerer, Texter, Transcriber
from voice.runtime.config import Settings
from voice.runtime.phrases import Phrases
from voice.runtime.runtime import Runtime
from voice.runtime.topic_titles import load_confirm_content
from voice.stages.tts.cache import CachedSynthesizer


@dataclass
class Services:
    settings: Settings
    transcriber: Transcriber
    answerer: Answerer
    synthesizer: CachedSynthesizer
    phrases: Phrases
    runtime: Runtime = field(default_factory=Runtime)  # shared by every call of the process
    texter: Texter | None = None  # the written answer by SMS; None when not configured
    _engine_config: EngineConfig | None = field(default=None, init=False, repr=False)

    def warm_up(self) -> None:
        """Load every model once; a broken model or knowledge base fails here, at start-up."""
        self.transcriber.warm_up()
        self.answerer.warm_up()
        self.synthesizer.warm_up()
        self.engine_config()  # parsing every knowledge-base file takes the interpreter ~1 s: not in a call

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

    def with_engines(self, transcriber: Transcriber, answerer: Answerer) -> Services:
        """The same services with other recognition and retrieval engines (e.g. one call's wrappers);
        the engine configuration, built once, is shared."""
        copy = replace(self, transcriber=transcriber, answerer=answerer)
        copy._engine_config = self.engine_config()
        return copy

    def engine_config(self) -> EngineConfig:
        """The engine's configuration (built once: it reads the knowledge base for the keypad menu)."""
        if self._engine_config is None:
            self._engine_config = self._build_engine_config()
        return self._engine_config

    def _build_engine_config(self) -> EngineConfig:
        s = self.settings
        menu, titles = keypad_menu(s.prompts_dir)
        topics = tuple(t for _, ts in menu for t in ts)
        confirm, problems = load_confirm_content(s.prompts_dir / "confirm", tuple(LANGUAGES), topics)
        if problems:
            raise ValueError("topic confirmation files have problems:\n  " + "\n  ".join(problems))
        return EngineConfig(
            max_turns=s.max_turns,
            language_confirm_below=s.language_confirm_below,
            voice_fallbacks=self.voice_fallbacks(),
            keypad_only=frozenset(code for code, lang in LANGUAGES.items() if not lang.recognisable),
            menu=menu,
            topic_titles=titles,
            recording_notice=s.record_calls,
            outcome_policy=OutcomePolicy(s.asr_unsure_logprob, s.asr_garbled_logprob, s.asr_max_no_speech),
            confirm_titles=confirm.titles,
            confirm_words=confirm.words,
        )


def keypad_menu(prompts_dir: Path) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], dict[str, dict[str, str]]]:
    """The keypad topic menu from the knowledge base: categories in a fixed order, topics in the order of
    ``topics.yaml``, each topic titled by its first caller question in each language."""
    kb = load_knowledge_base(prompts_dir)
    menu = tuple(
        (category, tuple(t for t in kb.topic_ids if t in kb.entries and kb.entries[t].category == category))
        for category in CATEGORIES
    )
    titles = {
        entry.id: {lang: questions[0] for lang, questions in entry.questions.items() if questions}
        for entry in kb.entries.values()
    }
    return menu, titles
