"""The FAQ knowledge base: its file format, loading and validation.

One YAML file per topic in ``prompts/faq/`` (format documented in ``prompts/README.md``), the topic
contract in ``prompts/topics.yaml`` and out-of-scope examples in ``prompts/out_of_scope.yaml``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.content import Content

CATEGORIES = (
    "procedure",
    "permanent",
    "work",
    "study",
    "family",
    "naturalisation",
    "visa",
    "asylum",
    "eu",
    "integration",
    "hotline",
)
MIN_QUESTIONS_DE = 6
MIN_QUESTIONS_OTHER = 2
MAX_SPOKEN_WORDS = 80
MAX_SHORT_WORDS_DE = 30  # about 12 s: the short answer a caller hears first
MAX_SHORT_WORDS = 45  # other languages say the same in more or fewer words (counted as in spoken_words)
# Languages written without spaces between words: counted by characters instead.
_CHAR_LANGS = {"zh": 3.0}
# Languages whose writing puts a space between syllables: syllables per spoken word.
_SYLLABLE_LANGS = {"vi": 1.4}
# review flags are left out of the content hash: marking a translation reviewed changes no embedding
_REVIEW_FLAG = re.compile(rb"\b(short_)?reviewed:[ \t]*(true|false|True|False|yes|no)\b")


class KnowledgeBaseError(ValueError):
    """The knowledge base cannot be used; the message lists every problem and its file."""


@dataclass(frozen=True)
class Entry:
    """One curated answer, in every language."""

    id: str
    category: str
    legal_basis: tuple[str, ...]
    checked: str
    answers: dict[str, str]
    reviewed: dict[str, bool]
    written: dict[str, str]
    questions: dict[str, tuple[str, ...]]
    source: Path
    sources: tuple[Page, ...] = ()
    simplified_numbers: tuple[str, ...] = ()
    shorts: dict[str, str] = field(default_factory=dict)  # the short spoken answer, per language
    shorts_reviewed: dict[str, bool] = field(default_factory=dict)  # its own flag: reviewed apart from the text

    @property
    def as_of(self) -> str:
        """The date the caller hears with the answer ("as of …"): the day its facts were checked."""
        return self.checked


@dataclass(frozen=True)
class Page:
    """An official page that a topic's facts come from (BAMF, Foreign Office, a law gazette)."""

    title: str
    url: str | None = None


@dataclass(frozen=True)
class KnowledgeBase:
    """All entries, the topic contract and the out-of-scope examples."""

    entries: dict[str, Entry]
    languages: tuple[str, ...]
    topic_ids: tuple[str, ...]
    out_of_scope: dict[str, tuple[str, ...]]
    content_hash: str


def load_knowledge_base(prompts_dir: Path) -> KnowledgeBase:
    """Load and structurally check every file.

    Raises:
        KnowledgeBaseError: Listing every structural problem found, not just the first.
    """
    kb, problems = inspect_knowledge_base(prompts_dir)
    if problems:
        raise KnowledgeBaseError("knowledge base has problems:\n  " + "\n  ".join(problems))
    return kb


def inspect_knowledge_base(prompts_dir: Path) -> tuple[KnowledgeBase, list[str]]:
    """Load whatever is usable and list every structural problem (for coverage reports)."""
    problems: list[str] = []
    topics = _read_yaml(prompts_dir / "topics.yaml", problems) or {}
    languages = tuple((topics.get("languages") or {}).keys())
    topic_ids = tuple(t["id"] for t in topics.get("topics") or [] if isinstance(t, dict) and "id" in t)
    digest = hashlib.sha256()
    entries: dict[str, Entry] = {}
    faq_files = sorted((prompts_dir / "faq").glob("*.yaml"))
    if not faq_files:
        problems.append(f"{prompts_dir / 'faq'}: no knowledge-base entries found")
    for path in faq_files:
        digest.update(path.name.encode() + b"\0" + _REVIEW_FLAG.sub(b"reviewed:", path.read_bytes()))
        raw = _read_yaml(path, problems)
        if raw is not None:
            entry = _parse_entry(path, raw, languages, topic_ids, problems)
            if entry is not None:
                entries[entry.id] = entry
    oos_path = prompts_dir / "out_of_scope.yaml"
    out_of_scope: dict[str, tuple[str, ...]] = {}
    if oos_path.is_file():
        digest.update(oos_path.read_bytes())
        raw_oos = _read_yaml(oos_path, problems) or {}
        out_of_scope = {str(k): tuple(str(q) for q in v or ()) for k, v in raw_oos.items()}
    return KnowledgeBase(entries, languages, topic_ids, out_of_scope, digest.hexdigest()), problems


def _read_yaml(path: Path, problems: list[str]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{path}: missing")
    except yaml.YAMLError as exc:
        problems.append(f"{path}: not valid YAML ({exc})")
    return None


def _parse_entry(
    path: Path, raw: Any, languages: tuple[str, ...], topic_ids: tuple[str, ...], problems: list[str]
) -> Entry | None:
    where = str(path)
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a mapping")
        return None
    entry_id = str(raw.get("id", ""))
    if entry_id != path.stem:
        problems.append(f"{where}: id {entry_id!r} must equal the file name {path.stem!r}")
    if entry_id not in topic_ids:
        problems.append(f"{where}: id {entry_id!r} is not a topic of topics.yaml")
    category = str(raw.get("category", ""))
    if category not in CATEGORIES:
        problems.append(f"{where}: category {category!r} is not one of {', '.join(CATEGORIES)}")
    basis = raw.get("legal_basis")
    if not isinstance(basis, list):
        problems.append(f"{where}: legal_basis must be a list (empty where no norm applies)")
        basis = []
    checked = raw.get("checked")
    if not isinstance(checked, dt.date):
        problems.append(f"{where}: checked must be a date (YYYY-MM-DD): when its facts were last checked")
    answers, reviewed = _answers(where, raw.get("answer"), languages, problems)
    shorts, shorts_reviewed = _shorts(raw.get("answer"))
    questions = _questions(where, raw.get("questions"), languages, problems)
    written = {str(k): str(v) for k, v in (raw.get("written") or {}).items()}
    simplified = raw.get("simplified_numbers") or []
    if not isinstance(simplified, list):
        problems.append(f"{where}: simplified_numbers must be a list")
        simplified = []
    return Entry(
        entry_id,
        category,
        tuple(str(b) for b in basis),
        str(checked),
        answers,
        reviewed,
        written,
        questions,
        path,
        _pages(where, raw.get("sources"), problems),
        tuple(str(n) for n in simplified),
        shorts,
        shorts_reviewed,
    )


def _shorts(raw: Any) -> tuple[dict[str, str], dict[str, bool]]:
    """``answer.<lang>.short``: the one or two facts most callers need (the full text becomes the details),
    and its ``short_reviewed`` flag (a short answer is reviewed on its own, apart from the full text)."""
    items = {str(k): v for k, v in raw.items() if isinstance(v, dict)} if isinstance(raw, dict) else {}
    shorts = {lang: " ".join(str(v["short"]).split()) for lang, v in items.items() if str(v.get("short") or "").strip()}
    return shorts, {lang: bool(items[lang].get("short_reviewed", False)) for lang in shorts}


def _pages(where: str, raw: Any, problems: list[str]) -> tuple[Page, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(f"{where}: sources must be a list of {{title, url}}")
        return ()
    pages = []
    for item in raw:
        if not isinstance(item, dict) or not str(item.get("title", "")).strip():
            problems.append(f"{where}: every source needs a title (and a url where there is one)")
            continue
        url = item.get("url")
        if url is not None and not str(url).startswith("https://"):
            problems.append(f"{where}: source {item['title']!r} has a url that is not https://")
        pages.append(Page(str(item["title"]).strip(), str(url) if url else None))
    return tuple(pages)


def _answers(
    where: str, raw: Any, languages: tuple[str, ...], problems: list[str]
) -> tuple[dict[str, str], dict[str, bool]]:
    answers: dict[str, str] = {}
    reviewed: dict[str, bool] = {}
    raw = raw if isinstance(raw, dict) else {}
    for lang in languages:
        item = raw.get(lang)
        if not isinstance(item, dict) or not str(item.get("text", "")).strip():
            problems.append(f"{where}: answer.{lang}.text is missing")
            continue
        answers[lang] = " ".join(str(item["text"]).split())
        reviewed[lang] = bool(item.get("reviewed", False))
    return answers, reviewed


def _questions(where: str, raw: Any, languages: tuple[str, ...], problems: list[str]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    raw = raw if isinstance(raw, dict) else {}
    for lang in languages:
        items = tuple(str(q).strip() for q in raw.get(lang) or () if str(q).strip())
        need = MIN_QUESTIONS_DE if lang == "de" else MIN_QUESTIONS_OTHER
        if len(items) < need:
            problems.append(f"{where}: questions.{lang} has {len(items)}, needs at least {need}")
        out[lang] = items
    return out


def spoken_words(text: str, language: str) -> int:
    """Approximate spoken word count (characters / 3 for Chinese, syllables / 1.4 for Vietnamese)."""
    if language in _CHAR_LANGS:
        return int(len(re.sub(r"\s", "", text)) / _CHAR_LANGS[language])
    if language in _SYLLABLE_LANGS:
        return int(len(text.split()) / _SYLLABLE_LANGS[language])
    return len(text.split())


def _short_problems(entry: Entry, content: Content) -> list[str]:
    """Every language has a short answer within its length limit, with known placeholders only."""
    out = []
    for lang in entry.answers:
        short = entry.shorts.get(lang)
        if short is None:
            out.append(f"{entry.source}: answer.{lang}.short is missing")
            continue
        limit = MAX_SHORT_WORDS_DE if lang == "de" else MAX_SHORT_WORDS
        words = spoken_words(short, lang)
        if words > limit:
            out.append(f"{entry.source}: answer.{lang}.short is {words} words (at most {limit})")
        for bad in content.unknown_placeholders(short):
            out.append(f"{entry.source}: answer.{lang}.short uses unknown placeholder {bad}")
    return out


def lint(kb: KnowledgeBase, content: Content) -> tuple[list[str], list[str]]:
    """Content checks beyond structure.

    Returns:
        (errors, warnings): errors make the knowledge base unusable (unknown placeholders); warnings
        flag text that is too long for listening or German text not yet reviewed.
    """
    errors: list[str] = []
    warnings: list[str] = []
    for entry in kb.entries.values():
        for lang, text in entry.answers.items():
            for bad in content.unknown_placeholders(text):
                errors.append(f"{entry.source}: answer.{lang} uses unknown placeholder {bad}")
            words = spoken_words(text, lang)
            if words > MAX_SPOKEN_WORDS * 1.25:
                warnings.append(f"{entry.source}: answer.{lang} is {words} words (aim for ≤ {MAX_SPOKEN_WORDS})")
        errors += _short_problems(entry, content)
        for bad in content.unknown_placeholders(" ".join(entry.written.values())):
            errors.append(f"{entry.source}: written text uses unknown placeholder {bad}")
        if not entry.reviewed.get("de", False):
            warnings.append(f"{entry.source}: the German (authoritative) answer is not marked reviewed")
        if "de" in entry.shorts and not entry.shorts_reviewed.get("de", False):
            warnings.append(f"{entry.source}: the German short answer is not marked reviewed (short_reviewed)")
    return errors, warnings
