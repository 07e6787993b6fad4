"""A webhook call's engine state as JSON, so that the next webhook of the call may land on any node.

What is kept: the engine's ``CallState`` (without its configuration, which every node builds from the same
files), the call record's id and whether its end was written, the keys chosen after each short answer and
the timings not yet stored with a turn. What is not: audio, rendered prompts, and the caller's number
(every Twilio webhook carries it again; it is never written to Redis).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields, replace
from typing import Any

from voice.core.call_state import CallState, Phase
from voice.core.domain import AnswerLike, SpeechStatus, Transcript
from voice.core.engine_types import EngineConfig

FORMAT = 1


@dataclass(frozen=True)
class KeptAnswer:
    """An answer as the call state remembers it between webhooks (the fields of ``AnswerLike``)."""

    topic: str | None
    handover: bool
    language: str
    text: str
    legal_basis: list[str] = field(default_factory=list)
    as_of: str = ""
    score: float = 0.0
    margin: float = 0.0
    reason: str = ""
    outcome: str = ""
    offered: list[str] = field(default_factory=list)
    candidates: list[tuple[str, float]] = field(default_factory=list)
    short: str = ""


@dataclass
class CallSnapshot:
    state: CallState
    record_id: str | None
    record_ended: bool = False
    followups: dict[int, list[str]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    waited: bool = False  # "one moment" was played for the step in progress


def _answer(data: dict[str, Any] | None) -> KeptAnswer | None:
    if data is None:
        return None
    data = dict(data, candidates=[(str(t), float(s)) for t, s in data.get("candidates", [])])
    return KeptAnswer(**data)


def _dump_answer(answer: AnswerLike | None) -> dict[str, Any] | None:
    if answer is None:
        return None
    return {f.name: getattr(answer, f.name) for f in fields(KeptAnswer)}


def _transcript(data: dict[str, Any] | None) -> Transcript | None:
    if data is None:
        return None
    return Transcript(**dict(data, status=SpeechStatus(data["status"])))


def _dump_transcript(transcript: Transcript | None) -> dict[str, Any] | None:
    return None if transcript is None else dataclasses.asdict(transcript)


_TRANSCRIPTS = ("transcript", "pending")


def dump(snapshot: CallSnapshot) -> dict[str, Any]:
    """Plain JSON-ready data of ``snapshot``."""
    state: dict[str, Any] = {}
    for f in fields(CallState):
        if f.name == "config":
            continue
        value = getattr(snapshot.state, f.name)
        if f.name in _TRANSCRIPTS:
            value = _dump_transcript(value)
        elif f.name == "short_answer":
            value = _dump_answer(value)
        elif isinstance(value, tuple):
            value = list(value)
        state[f.name] = value
    return {
        "format": FORMAT,
        "state": state,
        "record_id": snapshot.record_id,
        "record_ended": snapshot.record_ended,
        "followups": {str(k): v for k, v in snapshot.followups.items()},
        "timings": snapshot.timings,
        "waited": snapshot.waited,
    }


def load(data: dict[str, Any], config: EngineConfig) -> CallSnapshot:
    """The snapshot in ``data`` with this node's engine configuration.

    Raises:
        ValueError: data of another format (a node of another release wrote it).
    """
    if data.get("format") != FORMAT:
        raise ValueError(f"call state of format {data.get('format')!r}, this node reads {FORMAT}")
    raw = dict(data["state"])
    values: dict[str, Any] = {}
    for f in fields(CallState):
        if f.name == "config" or f.name not in raw:
            continue
        value = raw[f.name]
        if f.name in _TRANSCRIPTS:
            value = _transcript(value)
        elif f.name == "short_answer":
            value = _answer(value)
        elif f.name == "phase":
            value = Phase(value)
        elif isinstance(value, list):
            value = tuple(value)
        values[f.name] = value
    state = replace(CallState(config=config), **values)
    return CallSnapshot(
        state=state,
        record_id=data.get("record_id"),
        record_ended=bool(data.get("record_ended")),
        followups={int(k): list(v) for k, v in data.get("followups", {}).items()},
        timings={str(k): float(v) for k, v in data.get("timings", {}).items()},
        waited=bool(data.get("waited")),
    )
