"""Synthesising every fixed prompt and every FAQ answer into the audio cache ahead of calls.

Resumable: the cache is content-addressed and written file by file, so an interrupted run keeps what it
rendered and the next run skips it. Switching voices or engines changes the keys, so it re-renders.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from tqdm import tqdm

from pipeline.knowledge import load_knowledge_base
from voice.core.engine_types import Prompt, SpokenText, Utterance
from voice.runtime.services import Services

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


@dataclass
class LanguageReport:
    """What prerendering did for one spoken language."""

    cached: int = 0
    rendered: int = 0
    engines: Counter[str] = field(default_factory=Counter)  # engine -> clips (cached or new) it spoke

    @property
    def total(self) -> int:
        return self.cached + self.rendered


@dataclass
class PrerenderReport:
    languages: dict[str, LanguageReport] = field(default_factory=dict)
    fallbacks: dict[str, str] = field(default_factory=dict)  # language without a voice -> language spoken
    interrupted: bool = False

    @property
    def total(self) -> int:
        return sum(r.total for r in self.languages.values())

    @property
    def cached(self) -> int:
        return sum(r.cached for r in self.languages.values())

    @property
    def rendered(self) -> int:
        return sum(r.rendered for r in self.languages.values())

    def __getitem__(self, name: str) -> int:  # report["total"], as the counts dict it replaces
        return int(getattr(self, name))

    def lines(self) -> list[str]:
        """One summary line, then one line per language: clips, new, and which engine spoke them."""
        head = f"prerendered {self.total} clips: {self.cached} already cached, {self.rendered} new"
        out = [head + (" (interrupted: run again to resume)" if self.interrupted else "")]
        for lang, r in sorted(self.languages.items()):
            engines = ", ".join(f"{name} {n}" for name, n in r.engines.most_common())
            out.append(f"  {lang}: {r.total} clips ({r.rendered} new) by {engines}")
        for lang, spoken in sorted(self.fallbacks.items()):
            out.append(f"  {lang}: no voice; callers hear {spoken} (documented fallback)")
        return out


def prerender(services: Services, formats: tuple[str, ...]) -> PrerenderReport:
    """Render all utterances in all ``formats``, with a progress bar; Ctrl-C stops after the current clip."""
    items = list(utterances(services))
    report = PrerenderReport(fallbacks=services.voice_fallbacks())
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():  # a native engine may swallow KeyboardInterrupt
        previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    with tqdm(total=len(items) * len(formats), desc="prerender", unit="clip") as bar:
        try:
            for item in items:
                if stop.is_set():
                    raise KeyboardInterrupt
                text = services.phrases.text(item)
                lang = report.languages.setdefault(item.language, LanguageReport())
                bar.set_postfix_str(item.language, refresh=False)
                for fmt in formats:
                    rendered = services.synthesizer.render(text, item.language, fmt)
                    if rendered.cached:
                        lang.cached += 1
                    else:
                        lang.rendered += 1
                    lang.engines[rendered.engine or services.synthesizer.name] += 1
                    bar.update()
        except KeyboardInterrupt:
            report.interrupted = True
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
    return report
