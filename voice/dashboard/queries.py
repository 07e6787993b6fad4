"""What the dashboard shows, read from the call store: filtered calls, daily figures, knowledge-base use.

Filtering by time and call-level fields happens in SQL; the figures are then counted in Python, which
keeps the queries the same on SQLite and PostgreSQL (days are the office's local days).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.engine import Engine

from voice.storage.schema import calls, turns
from voice.storage.store import REFUSED

LOW_RATING = 2  # a rating at or below this marks a call's questions as material for new entries
# turn latency as the caller feels it: recognition + retrieval + synthesis (the stages the hotline controls)
LATENCY_STAGES = ("asr_ms", "retrieval_ms", "tts_ms")


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive times: they were stored in UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def turn_latency(turn: Mapping[str, Any]) -> float | None:
    parts = [turn.get(k) for k in LATENCY_STAGES]
    values = [float(p) for p in parts if p is not None]
    return sum(values) if values else None


@dataclass(frozen=True)
class CallFilter:
    """The calls list's filters, from the query string (empty: no restriction)."""

    since: dt.date | None = None
    until: dt.date | None = None  # inclusive: the last day shown
    language: str = ""
    topic: str = ""
    rating: str = ""  # "1".."5", "low" (1-2), "none" (not rated)
    handover: str = ""  # "yes" / "no"
    interrupted: str = ""  # "yes" / "no"

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> CallFilter:
        def day(key: str) -> dt.date | None:
            try:
                return dt.date.fromisoformat(args.get(key, "").strip()) if args.get(key, "").strip() else None
            except ValueError:
                return None

        def choice(key: str, allowed: Iterable[str]) -> str:
            value = args.get(key, "").strip()
            return value if value in allowed else ""

        return cls(
            since=day("since"),
            until=day("until"),
            language=args.get("language", "").strip()[:8],
            topic=args.get("topic", "").strip()[:80],
            rating=choice("rating", ("1", "2", "3", "4", "5", "low", "none")),
            handover=choice("handover", ("yes", "no")),
            interrupted=choice("interrupted", ("yes", "no")),
        )

    def query_args(self) -> dict[str, str]:
        """The filter as query-string values (for links to the CSV export and the next page)."""
        out = {
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "language": self.language,
            "topic": self.topic,
            "rating": self.rating,
            "handover": self.handover,
            "interrupted": self.interrupted,
        }
        return {k: v for k, v in out.items() if v}


@dataclass
class Dashboard:
    """Queries over one engine, with days counted in the office's time zone."""

    engine: Engine
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Berlin"))

    def local(self, value: dt.datetime | None) -> dt.datetime | None:
        value = as_utc(value)
        return value.astimezone(self.timezone) if value is not None else None

    def _day_start(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), self.timezone).astimezone(dt.UTC)

    def _where(self, f: CallFilter) -> list[Any]:
        conditions: list[Any] = []
        if f.since:
            conditions.append(calls.c.started_at >= self._day_start(f.since))
        if f.until:
            conditions.append(calls.c.started_at < self._day_start(f.until + dt.timedelta(days=1)))
        if f.language:
            conditions.append(calls.c.language == f.language)
        if f.rating == "none":
            conditions.append(calls.c.rating.is_(None))
        elif f.rating == "low":
            conditions.append(calls.c.rating <= LOW_RATING)
        elif f.rating:
            conditions.append(calls.c.rating == int(f.rating))
        if f.handover == "yes":
            conditions.append(
                or_(calls.c.handovers > 0, exists().where(turns.c.call_id == calls.c.id, turns.c.handover))
            )
        elif f.handover == "no":
            conditions.append(
                and_(calls.c.handovers == 0, ~exists().where(turns.c.call_id == calls.c.id, turns.c.handover))
            )
        if f.topic:
            conditions.append(exists().where(turns.c.call_id == calls.c.id, turns.c.topic == f.topic))
        if f.interrupted == "yes":
            conditions.append(exists().where(turns.c.call_id == calls.c.id, turns.c.interrupted))
        elif f.interrupted == "no":
            conditions.append(~exists().where(turns.c.call_id == calls.c.id, turns.c.interrupted))
        return conditions

    def calls_with_turns(self, f: CallFilter, limit: int | None = None) -> list[dict[str, Any]]:
        """Matching calls, newest first, each with its turns (``turns``) and summary fields."""
        query = select(calls).where(*self._where(f)).order_by(calls.c.started_at.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
            by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
            ids = [r["id"] for r in rows]
            for start in range(0, len(ids), 500):  # keep the IN list short
                chunk = ids[start : start + 500]
                query_turns = select(turns).where(turns.c.call_id.in_(chunk)).order_by(turns.c.turn)
                for t in conn.execute(query_turns).mappings():
                    by_id[t["call_id"]].append(dict(t))
        for row in rows:
            row["turns"] = by_id.get(row["id"], [])
            self._summarise(row)
        return rows

    def _summarise(self, call: dict[str, Any]) -> None:
        ts = call["turns"]
        call["started_local"] = self.local(call["started_at"])
        ended = as_utc(call.get("ended_at"))
        started = as_utc(call["started_at"])
        call["duration_s"] = (ended - started).total_seconds() if ended and started else None
        call["topics"] = sorted({t["topic"] for t in ts if t.get("topic")})
        call["handed_over"] = bool(call.get("handovers")) or any(t.get("handover") for t in ts)
        call["interrupted"] = any(t.get("interrupted") for t in ts)
        call["answered"] = sum(1 for t in ts if t.get("topic") and not t.get("handover"))
        for t in ts:
            t["latency_ms"] = turn_latency(t)
            t["created_local"] = self.local(t.get("created_at"))

    def get_call(self, call_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(calls).where(calls.c.id == call_id)).mappings().first()
            if row is None:
                return None
            query_turns = select(turns).where(turns.c.call_id == call_id).order_by(turns.c.turn)
            ts = [dict(t) for t in conn.execute(query_turns).mappings()]
        call = {**dict(row), "turns": ts}
        self._summarise(call)
        return call

    def get_turn(self, turn_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(turns).where(turns.c.id == turn_id)).mappings().first()
        return dict(row) if row is not None else None

    def choices(self) -> dict[str, list[str]]:
        """Languages and topics that occur, for the filter form."""
        with self.engine.connect() as conn:
            languages = sorted(x for x in conn.execute(select(calls.c.language).distinct()).scalars() if x)
            topics = sorted(x for x in conn.execute(select(turns.c.topic).distinct()).scalars() if x)
        return {"languages": languages, "topics": topics}

    # ---- overview ----------------------------------------------------------------------------------

    def overview(self, f: CallFilter, slowest: int = 10) -> dict[str, Any]:
        found = self.calls_with_turns(f)
        days: dict[dt.date, dict[str, Any]] = {}
        if f.since and f.until and (f.until - f.since).days <= 366:
            for n in range((f.until - f.since).days + 1):
                days[f.since + dt.timedelta(days=n)] = _empty_day()
        languages: Counter[str] = Counter()
        all_turns: list[dict[str, Any]] = []
        for call in found:
            local = call["started_local"]
            day = days.setdefault(local.date(), _empty_day())
            if call.get("end_reason") == REFUSED:  # refused by admission control: not a call taken in
                day["refused"] += 1
                continue
            day["calls"] += 1
            languages[call.get("language") or "?"] += 1
            if call.get("rating") is not None:
                day["ratings"].append(call["rating"])
            for t in call["turns"]:
                if t.get("handover"):
                    day["handed_over"] += 1
                elif t.get("topic"):
                    day["answered"] += 1
                all_turns.append({**t, "call_started": local, "call_language": call.get("language")})
        per_day = [
            {
                "day": d,
                "calls": v["calls"],
                "refused": v["refused"],
                "answered": v["answered"],
                "handed_over": v["handed_over"],
                "rating": sum(v["ratings"]) / len(v["ratings"]) if v["ratings"] else None,
                "ratings": len(v["ratings"]),
            }
            for d, v in sorted(days.items())
        ]
        timed = [t for t in all_turns if t["latency_ms"] is not None]
        timed.sort(key=lambda t: t["latency_ms"], reverse=True)
        ratings = [c["rating"] for c in found if c.get("rating") is not None]
        answered = sum(d["answered"] for d in per_day)
        handed = sum(d["handed_over"] for d in per_day)
        latencies = sorted(t["latency_ms"] for t in timed)
        return {
            "calls": sum(d["calls"] for d in per_day),
            "refused": sum(d["refused"] for d in per_day),
            "turns": len(all_turns),
            "answered": answered,
            "handed_over": handed,
            "rating": sum(ratings) / len(ratings) if ratings else None,
            "rated_calls": len(ratings),
            "median_latency_ms": latencies[len(latencies) // 2] if latencies else None,
            "interrupted": sum(1 for t in all_turns if t.get("interrupted")),
            "per_day": per_day,
            "languages": languages.most_common(),
            "slowest": timed[:slowest],
        }

    # ---- knowledge base ----------------------------------------------------------------------------

    def topic_usage(self, f: CallFilter) -> dict[tuple[str, str], dict[str, Any]]:
        """Per (topic, answer language): answered turns, hand-overs, turns whose caller asked for the details
        after the short answer, and the average rating of their calls."""
        usage: dict[tuple[str, str], dict[str, Any]] = {}
        for call in self.calls_with_turns(f):
            for t in call["turns"]:
                if not t.get("topic"):
                    continue
                lang = t.get("answer_language") or t.get("language") or call.get("language") or "?"
                u = usage.setdefault((t["topic"], lang), {"answered": 0, "handed_over": 0, "ratings": [],
                                                          "details": 0})
                if t.get("handover"):
                    u["handed_over"] += 1
                else:
                    u["answered"] += 1
                if "details" in (t.get("followups") or "").split(","):
                    u["details"] += 1  # the short answer did not say enough for this caller
                if call.get("rating") is not None:
                    u["ratings"].append(call["rating"])
        for u in usage.values():
            u["rating"] = sum(u["ratings"]) / len(u["ratings"]) if u["ratings"] else None
        return usage

    def weak_questions(self, f: CallFilter, topic: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Questions that were handed over or asked in a call rated low: the material for new entries.
        ``topic`` "" means questions without any topic; None means all."""
        out = []
        for call in self.calls_with_turns(f):
            low = call.get("rating") is not None and call["rating"] <= LOW_RATING
            for t in call["turns"]:
                if not t.get("transcript") or not (t.get("handover") or low):
                    continue
                if topic is not None and (t.get("topic") or "") != topic:
                    continue
                out.append(
                    {
                        "call_id": call["id"],
                        "turn": t["turn"],
                        "when": call["started_local"],
                        "language": t.get("language"),
                        "transcript": t["transcript"],
                        "topic": t.get("topic"),
                        "handover": bool(t.get("handover")),
                        "rating": call.get("rating"),
                    }
                )
        return out[:limit]


CSV_COLUMNS = (
    "call_id", "started_at", "transport", "call_language", "end_reason", "handovers", "rating", "turn", "status",
    "transcript", "language", "language_probability", "topic", "handover", "score", "answer_language",
    "answer_text", "asr_ms", "retrieval_ms", "tts_ms", "endpoint_ms", "first_audio_ms", "interrupted",
    "has_caller_audio", "has_answer_audio", "outcome", "confirm_offered", "confirm_choice", "asr_logprob",
    "followups", "sms_status", "sms_segments",
)


def csv_rows(found: list[dict[str, Any]]) -> Iterable[list[Any]]:
    """One row per turn (a call without turns still gets one row), in the order of ``CSV_COLUMNS``."""
    for call in found:
        base = [
            call["id"],
            call["started_local"].isoformat(timespec="seconds") if call.get("started_local") else "",
            call.get("transport"),
            call.get("language"),
            call.get("end_reason"),
            call.get("handovers"),
            call.get("rating"),
        ]
        for t in call["turns"] or [{}]:
            yield base + [
                t.get("turn"), t.get("status"), t.get("transcript"), t.get("language"),
                t.get("language_probability"), t.get("topic"), t.get("handover"), t.get("score"),
                t.get("answer_language"), t.get("answer_text"), t.get("asr_ms"), t.get("retrieval_ms"),
                t.get("tts_ms"), t.get("endpoint_ms"), t.get("first_audio_ms"), t.get("interrupted"),
                bool(t.get("audio_path")), bool(t.get("answer_audio_path")), t.get("outcome"),
                t.get("confirm_offered"), t.get("confirm_choice"), t.get("asr_logprob"), t.get("followups"),
                t.get("sms_status"), t.get("sms_segments"),
            ]


def _empty_day() -> dict[str, Any]:
    return {"calls": 0, "refused": 0, "answered": 0, "handed_over": 0, "ratings": []}
