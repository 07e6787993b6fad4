"""Is the knowledge base still the law as it stands? Sources, check dates and figures that expire.

- ``prompts/sources.yaml`` names every law the answers cite, with its official address, the version
  (the last amending act) that was read and the date it was read. Every ``legal_basis`` item of a
  topic must name one of these laws.
- Every topic has a ``checked`` date and at least one source (a law paragraph in ``legal_basis`` or an
  official page in ``sources``); topics about the hotline itself (category ``hotline``) may have none.
- Every figure in ``figures.yaml`` has a ``source`` and a ``valid_until`` date (after which it is
  wrong, such as a suspension's end or a yearly threshold) or a ``review_by`` date (when to look
  again, for figures without a known end).

``faq check`` turns these into errors (an expired figure that a text still uses, an unknown law, a
topic without sources) and warnings (a check older than six months, a figure that expires within 60
days or is past its review date). The dashboard shows the same findings to editors.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.knowledge import Entry, KnowledgeBase

STALE_AFTER = dt.timedelta(days=183)
EXPIRES_SOON = dt.timedelta(days=60)
_FIGURE_REF = re.compile(r"\{figure\.([a-z_0-9]+)\}")


@dataclass(frozen=True)
class Law:
    """A law or regulation the answers cite, as read at its official source."""

    name: str
    title: str
    url: str
    version: str
    checked: dt.date | None


@dataclass(frozen=True)
class Finding:
    """One thing an editor should look at; ``error`` findings make ``faq check`` fail."""

    severity: str  # "error" or "warning"
    subject: str  # topic id, figure name or law
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"


def load_laws(path: Path) -> tuple[dict[str, Law], list[str]]:
    """Read ``sources.yaml``; returns the laws and every structural problem."""
    problems: list[str] = []
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        return {}, [f"{path}: {exc}"]
    laws: dict[str, Law] = {}
    for name, item in (raw.get("laws") or {}).items():
        if not isinstance(item, dict) or not item.get("title") or not str(item.get("url", "")).startswith("https://"):
            problems.append(f"{path}: law {name!r} needs a title and an https:// url")
            continue
        checked = item.get("checked")
        if checked is not None and not isinstance(checked, dt.date):
            problems.append(f"{path}: law {name!r}: checked must be a date")
            checked = None
        laws[str(name)] = Law(str(name), str(item["title"]), str(item["url"]), str(item.get("version") or ""), checked)
    return laws, problems


def law_of(reference: str, laws: dict[str, Law]) -> Law | None:
    """The law a ``legal_basis`` item cites ("§ 26 Abs. 1 AufenthG" → AufenthG), longest name first."""
    for name in sorted(laws, key=len, reverse=True):
        if re.search(r"(?<![\w/])" + re.escape(name) + r"(?![\w/])", reference):
            return laws[name]
    return None


def figure_dates(figure: dict[str, Any]) -> tuple[dt.date | None, dt.date | None]:
    """A figure's ``valid_until`` and ``review_by`` (None where missing or not a date)."""
    until, review = figure.get("valid_until"), figure.get("review_by")
    return (until if isinstance(until, dt.date) else None), (review if isinstance(review, dt.date) else None)


def figure_state(figure: dict[str, Any], today: dt.date) -> str:
    """The figure's state: "expired", "soon" (within 60 days), "review" (past ``review_by``) or "ok"."""
    until, review = figure_dates(figure)
    if until and until < today:
        return "expired"
    if until and until - today <= EXPIRES_SOON:
        return "soon"
    if review and review < today:
        return "review"
    return "ok"


def is_stale(checked: dt.date, today: dt.date) -> bool:
    return today - checked > STALE_AFTER


def topic_findings(entry: Entry, laws: dict[str, Law], today: dt.date) -> list[Finding]:
    findings: list[Finding] = []
    for reference in entry.legal_basis:
        if law_of(reference, laws) is None:
            findings.append(Finding("error", entry.id, f"legal basis {reference!r} names no law of sources.yaml"))
    if not entry.legal_basis and not entry.sources and entry.category != "hotline":
        findings.append(Finding("error", entry.id, "no source: add legal_basis or an official page under sources"))
    try:
        checked = dt.date.fromisoformat(entry.checked)
    except ValueError:
        return findings  # the structural check already reported it
    if checked > today:
        findings.append(Finding("error", entry.id, f"checked {checked} lies in the future"))
    elif is_stale(checked, today):
        findings.append(Finding("warning", entry.id, f"last checked {checked}, more than 6 months ago"))
    return findings


def figure_findings(figures: dict[str, dict[str, Any]], kb: KnowledgeBase, today: dt.date) -> list[Finding]:
    users = figure_users(kb)
    findings: list[Finding] = []
    for name, figure in figures.items():
        if not str(figure.get("source") or "").strip():
            findings.append(Finding("error", f"figure {name}", "has no source"))
        until, review = figure_dates(figure)
        if until is None and review is None:
            findings.append(Finding("error", f"figure {name}", "needs valid_until or review_by (a date)"))
            continue
        used = ", ".join(sorted(users.get(name, ()))) or "no topic"
        state = figure_state(figure, today)
        if state == "expired":
            severity = "error" if users.get(name) else "warning"
            findings.append(Finding(severity, f"figure {name}", f"expired on {until}; used by {used}"))
        elif state == "soon":
            findings.append(Finding("warning", f"figure {name}", f"expires on {until}; used by {used}"))
        if review and review < today:
            findings.append(Finding("warning", f"figure {name}", f"was due for review on {review}; used by {used}"))
    return findings


def law_findings(laws: dict[str, Law], today: dt.date) -> list[Finding]:
    findings = []
    for law in laws.values():
        if not law.version or law.checked is None:
            findings.append(
                Finding("warning", law.name, "no version recorded (the last amending act, and when it was read)")
            )
        elif is_stale(law.checked, today):
            findings.append(Finding("warning", law.name, f"version last read {law.checked}, more than 6 months ago"))
    return findings


def figure_users(kb: KnowledgeBase) -> dict[str, set[str]]:
    """Figure name → the topics whose texts (any language, spoken or written) reference it."""
    users: dict[str, set[str]] = {}
    for entry in kb.entries.values():
        texts = [*entry.answers.values(), *entry.written.values()]
        for name in _FIGURE_REF.findall(" ".join(texts)):
            users.setdefault(name, set()).add(entry.id)
    return users


def freshness(
    kb: KnowledgeBase, laws: dict[str, Law], figures: dict[str, dict[str, Any]], today: dt.date
) -> list[Finding]:
    """Every finding about sources, check dates and figure validity."""
    findings = [f for entry in kb.entries.values() for f in topic_findings(entry, laws, today)]
    return findings + figure_findings(figures, kb, today) + law_findings(laws, today)
