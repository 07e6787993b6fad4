"""Office profile and yearly figures, and filling their placeholders into caller-facing text.

Text references ``{office.FIELD}`` (see ``prompts/office.example.yaml``) and ``{figure.NAME}`` (see
``prompts/figures.yaml``); any other ``{name}`` is a call-flow parameter filled in by the caller of
``fill``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PLACEHOLDER = re.compile(r"\{([a-z_]+)(?:\.([a-z_0-9]+))?\}")
_DECIMAL_COMMA = {"de", "tr", "uk", "ru", "ku", "sq", "sr", "ro", "pl", "fr", "es", "vi"}


class ContentError(ValueError):
    """Content files are missing or inconsistent; the message lists every problem."""


@dataclass(frozen=True)
class Content:
    """The office profile and the figures, as loaded from YAML."""

    office: dict[str, Any]
    figures: dict[str, dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)

    def figure_text(self, name: str, language: str) -> str:
        value = self.figures[name]["value"]
        if not isinstance(value, int | float):
            return str(value)  # a date (ISO, spoken by the normaliser) or a fixed text
        if float(value).is_integer():
            return str(int(value))
        text = f"{float(value):.2f}"
        return text.replace(".", ",") if language in _DECIMAL_COMMA else text

    def fill(self, text: str, language: str, /, **params: str) -> str:
        """Replace ``{office.X}``, ``{figure.Y}`` and ``{param}`` placeholders.

        Raises:
            KeyError: For a placeholder that has no value (the validator catches these at start-up).
        """

        def sub(match: re.Match[str]) -> str:
            scope, name = match.group(1), match.group(2)
            if name is None:
                return str(params[scope])
            if scope == "office":
                return str(self.office[name])
            if scope == "figure":
                return self.figure_text(name, language)
            raise KeyError(f"unknown placeholder scope {scope!r}")

        return PLACEHOLDER.sub(sub, text)

    def unknown_placeholders(self, text: str, allowed_params: frozenset[str] = frozenset()) -> list[str]:
        """Placeholders in ``text`` that ``fill`` could not resolve."""
        bad = []
        for scope, name in PLACEHOLDER.findall(text):
            if not name and scope in allowed_params:
                continue
            if scope == "office" and name in self.office:
                continue
            if scope == "figure" and name in self.figures:
                continue
            bad.append(f"{{{scope}.{name}}}" if name else f"{{{scope}}}")
        return bad


def load_content(office_profile: Path, figures: Path) -> Content:
    """Load the office profile and figures files."""
    problems = []
    loaded: list[dict[str, Any]] = []
    for path in (office_profile, figures):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            problems.append(f"{path}: {exc}")
            data = {}
        if not isinstance(data, dict):
            problems.append(f"{path}: expected a mapping at the top level")
            data = {}
        loaded.append(data)
    office, figs = loaded
    for name, fig in figs.items():
        if not isinstance(fig, dict) or "value" not in fig or "year" not in fig:
            problems.append(f"{figures}: figure {name!r} needs 'value' and 'year'")
    if problems:
        raise ContentError("\n".join(problems))
    return Content(office=office, figures=figs)
