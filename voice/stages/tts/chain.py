"""Engine choice per language, with a fallback chain: a missing or failing voice never means silence.

Each language has an ordered list of engines (e.g. Coqui, then eSpeak NG). The first engine with a
voice for the language speaks; if it fails on a text, the next one speaks that text instead and a
warning is logged once per engine and language. Only when every engine fails does ``synthesize`` raise
``NoVoiceError``, which the call flow already handles for text nobody can speak.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from voice.core.domain import Speech
from voice.core.ports import NoVoiceError, Synthesizer

log = logging.getLogger(__name__)


class EngineChain:
    """A ``Synthesizer`` that delegates each language to the first engine of its chain that can speak it.

    Args:
        engines: Engine key (``coqui``, ``espeak``) -> synthesizer.
        order: The chain used for every language without its own.
        by_language: Language -> its own chain (keys of ``engines``).
    """

    def __init__(
        self,
        engines: Mapping[str, Synthesizer],
        order: Sequence[str],
        by_language: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.engines = dict(engines)
        self.order = tuple(order)
        self.by_language = {lang: tuple(chain) for lang, chain in (by_language or {}).items()}
        unknown = {key for chain in (self.order, *self.by_language.values()) for key in chain} - set(self.engines)
        if unknown:
            raise ValueError(f"unknown engines in chain: {', '.join(sorted(unknown))}")
        used = [key for key in self.engines if key in self.order or any(key in c for c in self.by_language.values())]
        self.name = "+".join(self.engines[key].name for key in used)
        self._warned: set[tuple[str, str]] = set()

    def chain(self, language: str) -> tuple[str, ...]:
        """The engine keys tried for ``language``, in order."""
        return self.by_language.get(language, self.order)

    def warm_up(self) -> None:
        for key in dict.fromkeys(k for chain in (self.order, *self.by_language.values()) for k in chain):
            self.engines[key].warm_up()

    def speaker(self, language: str) -> str | None:
        """The engine key that speaks ``language`` (None: no engine has a voice for it)."""
        for key in self.chain(language):
            if self.engines[key].has_voice(language):
                return key
        return None

    def has_voice(self, language: str) -> bool:
        return self.speaker(language) is not None

    def identity(self, language: str) -> dict[str, object]:
        key = self.speaker(language)
        return self.engines[key].identity(language) if key else {"engine": self.name}

    def identity_for(self, engine_name: str, language: str) -> dict[str, object]:
        """The identity of the engine called ``engine_name`` (after a fallback spoke instead)."""
        for engine in self.engines.values():
            if engine.name == engine_name:
                return engine.identity(language)
        return {"engine": engine_name}

    def synthesize(self, text: str, language: str) -> Speech:
        errors = []
        for key in self.chain(language):
            engine = self.engines[key]
            if not engine.has_voice(language):
                continue
            try:
                return engine.synthesize(text, language)
            except Exception as exc:  # the next engine speaks instead; never leave the caller in silence
                errors.append(f"{engine.name}: {exc}")
                if (key, language) not in self._warned:
                    self._warned.add((key, language))
                    log.warning("%s failed for %s (%s); falling back to the next engine", engine.name, language, exc)
        raise NoVoiceError(f"no engine could speak {language!r}" + (f": {'; '.join(errors)}" if errors else ""))
