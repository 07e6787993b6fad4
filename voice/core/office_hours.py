"""Whether a person can take a call now, from the office profile's opening hours and time zone."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_ranges(spec: str) -> list[tuple[dt.time, dt.time]]:
    """``"08:00-12:00,14:00-18:00"`` -> [(08:00, 12:00), (14:00, 18:00)]; empty means closed.

    Raises:
        ValueError: For a malformed range, naming it.
    """
    ranges = []
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        try:
            start, end = (dt.time.fromisoformat(x.strip()) for x in part.split("-"))
        except ValueError:
            raise ValueError(f"opening hours {part!r}: expected HH:MM-HH:MM") from None
        if end <= start:
            raise ValueError(f"opening hours {part!r}: the end must be after the start")
        ranges.append((start, end))
    return ranges


def is_open(office: dict[str, Any], now: dt.datetime | None = None) -> bool:
    """True when ``now`` (default: the current time) falls in one of today's opening ranges."""
    zone = ZoneInfo(str(office.get("timezone", "Europe/Berlin")))
    local = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    hours = office.get("opening_hours") or {}
    for start, end in parse_ranges(str(hours.get(_DAYS[local.weekday()], "") or "")):
        if start <= local.time() < end:
            return True
    return False
