"""What the hotline needs to confirm a topic, per language (``prompts/confirm/<lang>.yaml``).

``titles``: each topic's short spoken title, a noun phrase that fits the language's ``topic_confirm``
phrase ("Is your question about {topic}?"); ``yes``, ``two``, ``no``: what a caller may say instead of
pressing 1, 2, or "neither".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

WORD_LISTS = ("yes", "two", "no")
# a title is heard inside a sentence: longer than this and the caller has forgotten the question
MAX_TITLE_WORDS = 10
MAX_TITLE_CHARS = 25  # a title without spaces (Chinese) is measured in characters


@dataclass(frozen=True)
class ConfirmContent:
    titles: dict[str, dict[str, str]] = field(default_factory=dict)  # language -> topic -> title
    words: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)  # language -> list -> words


def load_confirm_content(
    folder: Path, languages: tuple[str, ...], topics: tuple[str, ...]
) -> tuple[ConfirmContent, list[str]]:
    """Read every language's file; returns what could be read and every problem found.

    Problems: a missing or unreadable file, a topic without a title, an unknown topic, an empty or
    over-long title, a missing word list.
    """
    content = ConfirmContent()
    problems: list[str] = []
    for lang in languages:
        path = folder / f"{lang}.yaml"
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            problems.append(f"{path}: {exc}")
            continue
        if not isinstance(data, dict):
            problems.append(f"{path}: expected a mapping with titles, yes, two and no")
            continue
        titles = {str(k): " ".join(str(v).split()) for k, v in (data.get("titles") or {}).items()}
        content.titles[lang] = titles
        content.words[lang] = {key: _word_list(data, key) for key in WORD_LISTS}
        problems.extend(_title_problems(path, titles, topics))
        problems.extend(f"{path}: no '{key}' words" for key in WORD_LISTS if not content.words[lang][key])
    return content, problems


def _word_list(data: dict[object, object], key: str) -> tuple[str, ...]:
    # YAML 1.1 reads an unquoted yes/no key as a boolean: accept both spellings
    raw = data.get(key) or data.get({"yes": True, "no": False}.get(key, key))
    words = raw if isinstance(raw, list) else [raw] if raw else []
    return tuple(str(w).strip().casefold() for w in words if str(w).strip())


def _title_problems(path: Path, titles: dict[str, str], topics: tuple[str, ...]) -> list[str]:
    out = [f"{path}: no title for topic {t}" for t in topics if not titles.get(t)]
    out += [f"{path}: title for unknown topic {t}" for t in titles if t not in topics]
    for topic, title in titles.items():
        if len(title.split()) > MAX_TITLE_WORDS or (" " not in title and len(title) > MAX_TITLE_CHARS):
            out.append(f"{path}: title of {topic} is too long to be heard in a question ({title!r})")
    return out
