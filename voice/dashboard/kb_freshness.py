"""What the knowledge-base pages show an editor about currency: check dates, sources, expiring figures.

The rules are those of ``faq check`` (``pipeline/freshness.py``); the files are read on each request, so
an edit shows up without a restart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.freshness import Law, figure_dates, figure_state, figure_users, is_stale, law_of, load_laws
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
        self._users = figure_users(kb)

    def is_stale(self, entry: Entry) -> bool:
        try:
            return is_stale(dt.date.fromisoformat(entry.checked), self.today)
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
        until, review = figure_dates(fig)
        return FigureState(
            name,
            str(fig.get("value", "?")),
            str(fig.get("year", "")),
            str(fig.get("source", "")),
            fig.get("url"),
            until,
            review,
            figure_state(fig, self.today),
        )
