"""What the benchmarks share: the office they run against, the percentile they report, and the line
that says where and when a table was measured."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
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


def provenance() -> str:
    """Machine, date and git revision, printed above every table: these machines drift by tens of percent
    from day to day, so a figure means little without them (compare changes within one run)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        memory = 0.0
    try:
        revision = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                                  text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        revision = "unknown"
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB; {when}; revision {revision}"
