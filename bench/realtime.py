"""What the real-time benchmarks (Media Streams, SIP) share: the office they run against and the
percentile they report."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def closed_office(tmp: Path) -> Path:
    """The example office with no opening hours: hand-overs give the contact channels, never a transfer."""
    office = yaml.safe_load((ROOT / "prompts/office.example.yaml").read_text(encoding="utf-8"))
    office["opening_hours"] = {day: "" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    path = tmp / "office.yaml"
    path.write_text(yaml.safe_dump(office, allow_unicode=True), encoding="utf-8")
    return path
