"""What the knowledge-base pages show an editor about currency: check dates, sources, expiring figures.

The same findings as ``faq check`` (``pipeline/freshness.py``), read from the files on each request, so
an edit shows up without a restart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.freshness import STALE_AFTER, Finding, Law, figure_users, freshness, law_of, load_laws
from pipeline.knowledge import Entry, KnowledgeBase


@dataclass(frozen=True)
class SourceLink:
    title: str
    url: str | None
    version: str = ""


@dataclass(frozen=True)
class FigureState:
    name: str
    value: str
    year: str
    source: str
    url: str | None
    until: dt.date | None
    review_by: dt.date | None
    state: str  # "ok", "soon", "expired", "review"


class KbFreshness:
    """Freshness of the knowledge base in ``prompts_dir`` as of ``today``."""

    def __init__(self, prompts_dir: Path, kb: KnowledgeBase, today: dt.date | None = None) -> None:
        self.today = today or dt.date.today()
        self.kb = kb
        self.laws, _ = load_laws(prompts_dir / "sources.yaml")
        try:
            self.figures: dict[str, dict[str, Any]] = yaml.safe_load((prompts_dir / "figures.yaml").read_text("utf-8"))
        except (OSError, yaml.YAMLError):
            self.figures = {}
        self.findings: list[Finding] = freshness(kb, self.laws, self.figures, self.today)
        self._users = figure_users(kb)

    def is_stale(self, entry: Entry) -> bool:
        try:
            return self.today - dt.date.fromisoformat(entry.checked) > STALE_AFTER
        except ValueError:
            return True

    def sources(self, entry: Entry) -> list[SourceLink]:
        links = []
        for reference in entry.legal_basis:
            law: Law | None = law_of(reference, self.laws)
            links.append(SourceLink(reference, law.url if law else None, law.version if law else "unknown law"))
        links += [SourceLink(page.title, page.url) for page in entry.sources]
        return links

    def figures_of(self, entry: Entry) -> list[FigureState]:
        return [self._figure(name) for name in sorted(self._users) if entry.id in self._users[name]]

    def attention(self) -> list[FigureState]:
        """Figures that expired, expire within 60 days or are due for review, soonest first."""
        states = [self._figure(name) for name in self.figures]
        due = [s for s in states if s.state != "ok"]
        return sorted(due, key=lambda s: s.until or s.review_by or dt.date.max)

    def _figure(self, name: str) -> FigureState:
        fig = self.figures.get(name) or {}
        until = fig.get("valid_until") if isinstance(fig.get("valid_until"), dt.date) else None
        review = fig.get("review_by") if isinstance(fig.get("review_by"), dt.date) else None
        state = "ok"
        if until and until < self.today:
            state = "expired"
        elif until and until - self.today <= dt.timedelta(days=60):
            state = "soon"
        elif review and review < self.today:
            state = "review"
        return FigureState(
            name,
            str(fig.get("value", "?")),
            str(fig.get("year", "")),
            str(fig.get("source", "")),
            fig.get("url"),
            until,
            review,
            state,
        )
