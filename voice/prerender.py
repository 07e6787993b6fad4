"""Synthesising every fixed prompt and every FAQ answer into the audio cache ahead of calls."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from tqdm import tqdm

from pipeline.knowledge import load_knowledge_base
from voice.engine_types import Prompt, SpokenText, Utterance
from voice.services import Services

log = logging.getLogger(__name__)
_CALL_TIME_PARAM = re.compile(r"\{(?!office\.|figure\.)[a-z_]+\}")


def utterances(services: Services) -> Iterator[Utterance]:
    """Everything the hotline says that does not depend on the call: prompts, answers, legal bases."""
    phrases = services.phrases.by_language
    fallbacks = services.voice_fallbacks()
    kb = load_knowledge_base(services.settings.prompts_dir)
    for lang, keys in phrases.items():
        if lang in fallbacks:
            params = (("language", lang), ("fallback_language", fallbacks[lang]))
            yield Prompt("no_voice_for_language", fallbacks[lang], params)
            continue
        for key, text in keys.items():
            if key != "language_name" and not _CALL_TIME_PARAM.search(text):
                yield Prompt(key, lang)
    for entry in kb.entries.values():
        for lang, text in entry.answers.items():
            if lang in fallbacks:
                continue
            yield SpokenText(services.phrases.content.fill(text, lang), lang)
            if entry.legal_basis:
                params = (("legal_basis", ", ".join(entry.legal_basis)), ("as_of", entry.as_of))
                yield Prompt("legal_basis_intro", lang, params)


def prerender(services: Services, formats: tuple[str, ...]) -> dict[str, int]:
    """Render all utterances in all ``formats``; returns counts (total, cached, rendered)."""
    items = list(utterances(services))
    stats = {"total": 0, "cached": 0, "rendered": 0}
    with tqdm(total=len(items) * len(formats), desc="prerender", unit="clip") as bar:
        for item in items:
            text = services.phrases.text(item)
            for fmt in formats:
                rendered = services.synthesizer.render(text, item.language, fmt)
                stats["total"] += 1
                stats["cached" if rendered.cached else "rendered"] += 1
                bar.update()
    return stats
