"""``python app.py faq check``: is the knowledge base complete enough to go live?

Checks the schema of every entry, that every topic of ``topics.yaml`` has an entry with an answer and
enough paraphrases in every language, legal basis and check date, that every office-profile and figure
reference resolves, that every fixed prompt exists in every language, and that every topic has a short
spoken title (for "is your question about …?") and the yes/no words in every language. Then whether
the content is still the law as it stands (``pipeline/freshness.py``: sources, check dates, figures
past their validity) and whether its texts agree on numbers (``pipeline/numbers.py``). Prints a
coverage table per language; any error makes the exit code non-zero.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.content import load_content
from pipeline.freshness import freshness, load_laws
from pipeline.knowledge import MIN_QUESTIONS_DE, MIN_QUESTIONS_OTHER, inspect_knowledge_base, lint
from pipeline.numbers import number_mismatches
from voice.runtime.phrases import inspect_phrases
from voice.runtime.topic_titles import load_confirm_content


@dataclass
class CheckReport:
    topics: int
    languages: tuple[str, ...]
    coverage: dict[str, dict[str, int]]
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    example_profile: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "topics": self.topics,
            "coverage": self.coverage,
            "errors": self.errors,
            "warnings": self.warnings,
            "example_profile": self.example_profile,
        }

    def table(self) -> str:
        head = f"{'lang':<6}{'answers':>10}{'questions':>11}{'reviewed':>10}{'titles':>10}{'prompts':>9}"
        lines = [head, "-" * len(head)]
        for lang in self.languages:
            c = self.coverage[lang]
            lines.append(
                f"{lang:<6}{c['answers']:>6}/{self.topics:<3}{c['questions']:>7}/{self.topics:<3}"
                f"{c['reviewed']:>6}/{self.topics:<3}{c['titles']:>6}/{self.topics:<3}"
                f"{'ok' if c['prompts'] else 'GAPS':>9}"
            )
        return "\n".join(lines)


def check(prompts_dir: Path, office_profile: Path, today: dt.date | None = None) -> CheckReport:
    """Run every check and collect all problems (``today``: the day to judge validity on)."""
    kb, errors = inspect_knowledge_base(prompts_dir)
    content = load_content(office_profile, prompts_dir / "figures.yaml")
    lint_errors, warnings = lint(kb, content)
    errors = list(errors) + lint_errors
    laws, law_errors = load_laws(prompts_dir / "sources.yaml")
    errors += law_errors
    for finding in freshness(kb, laws, content.figures, today or dt.date.today()):
        (errors if finding.severity == "error" else warnings).append(str(finding))
    errors += [m for entry in kb.entries.values() for m in number_mismatches(entry)]
    phrases, phrase_errors = inspect_phrases(prompts_dir / "phrases", kb.languages, content)
    errors += phrase_errors
    missing = [t for t in kb.topic_ids if t not in kb.entries]
    errors += [f"topic {t!r} has no entry in {prompts_dir / 'faq'}" for t in missing]
    confirm, confirm_errors = load_confirm_content(prompts_dir / "confirm", kb.languages, kb.topic_ids)
    errors += confirm_errors
    reference_keys = set(phrases.by_language.get("de", {}))
    coverage: dict[str, dict[str, int]] = {}
    for lang in kb.languages:
        need = MIN_QUESTIONS_DE if lang == "de" else MIN_QUESTIONS_OTHER
        entries = [kb.entries[t] for t in kb.topic_ids if t in kb.entries]
        coverage[lang] = {
            "answers": sum(1 for e in entries if lang in e.answers),
            "questions": sum(1 for e in entries if len(e.questions.get(lang, ())) >= need),
            "reviewed": sum(1 for e in entries if e.reviewed.get(lang, False)),
            "titles": sum(1 for e in entries if confirm.titles.get(lang, {}).get(e.id)),
            "prompts": int(bool(reference_keys) and reference_keys <= set(phrases.by_language.get(lang, {}))),
        }
    example = bool(content.office.get("example"))
    return CheckReport(len(kb.topic_ids), kb.languages, coverage, errors, warnings, example)
