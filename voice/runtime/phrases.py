"""Fixed prompts (``prompts/phrases/<lang>.yaml``) and turning engine utterances into text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.content import Content
from voice.core.engine_types import Prompt, SpokenText, Utterance

_LANGUAGE_PARAMS = {"language", "fallback_language"}
_PARAMS = frozenset(
    {"language", "fallback_language", "digit", "legal_basis", "as_of", "category", "topic", "alternative"}
)


class PhraseError(ValueError):
    """Prompt files are missing or incomplete; the message lists every problem."""


@dataclass(frozen=True)
class Phrases:
    """All fixed prompts, by language and key."""

    by_language: dict[str, dict[str, str]]
    content: Content

    def text(self, utterance: Utterance) -> str:
        """The words of an utterance in its language, placeholders filled."""
        if isinstance(utterance, SpokenText):
            return utterance.text
        raw = self.by_language[utterance.language][utterance.key]
        params = {k: self._param(k, v, utterance.language) for k, v in utterance.params}
        return self.content.fill(raw, utterance.language, **params)

    def say(self, key: str, in_language: str, **params: str) -> str:
        """The prompt ``key`` in ``in_language`` (params named ``language`` take a language code)."""
        return self.text(Prompt(key, in_language, tuple(params.items())))

    def _param(self, key: str, value: str, language: str) -> str:
        if key in _LANGUAGE_PARAMS and value in self.by_language:
            return self.by_language[value]["language_name"]
        if value.startswith("@"):  # another phrase, e.g. a category name, in the utterance's language
            return self.by_language[language][value[1:]]
        return value


def load_phrases(phrases_dir: Path, languages: tuple[str, ...], content: Content) -> Phrases:
    """Load every language's prompts and check they are complete.

    Raises:
        PhraseError: Listing missing files, missing keys and unknown placeholders.
    """
    phrases, problems = inspect_phrases(phrases_dir, languages, content)
    if problems:
        raise PhraseError("prompt files have problems:\n  " + "\n  ".join(problems))
    return phrases


def inspect_phrases(phrases_dir: Path, languages: tuple[str, ...], content: Content) -> tuple[Phrases, list[str]]:
    """Load whatever prompts exist and list every problem."""
    problems: list[str] = []
    by_language: dict[str, dict[str, str]] = {}
    for lang in languages:
        path = phrases_dir / f"{lang}.yaml"
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            problems.append(f"{path}: {exc}")
            continue
        by_language[lang] = {str(k): " ".join(str(v).split()) for k, v in data.items()}
    reference = set(by_language.get("de", {}))
    for lang, phrases in by_language.items():
        missing = reference - set(phrases)
        if missing:
            problems.append(f"{phrases_dir / lang}.yaml: missing keys {', '.join(sorted(missing))}")
        for key, text in phrases.items():
            for bad in content.unknown_placeholders(text, _PARAMS):
                problems.append(f"{phrases_dir / lang}.yaml: {key} uses unknown placeholder {bad}")
    return Phrases(by_language, content), problems
