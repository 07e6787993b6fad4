"""What a replay runs: stored calls, audio files and folders, and YAML scenarios, as a list of cases.

A case is one call: a sequence of caller turns (an audio file, or keys pressed), each optionally with
expectations and a reference transcript. Nothing is decoded here; unreadable audio is found when the
case runs, and reported there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

AUDIO_SUFFIXES = frozenset({".wav", ".mp3", ".ogg", ".opus", ".flac", ".m4a", ".ulaw", ".mulaw", ".alaw"})
SCENARIO_SUFFIXES = frozenset({".yaml", ".yml"})
_EXPECT_KEYS = frozenset({"topic", "handover", "outcome", "language", "transcript_contains", "max_latency_ms"})


class ScenarioError(ValueError):
    """A scenario file is malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class Expectation:
    """What a turn must do. ``topic`` is checked only when ``checks_topic`` (None: a hand-over)."""

    checks_topic: bool = False
    topic: str | None = None
    handover: bool | None = None
    outcome: str | None = None  # answer, confirm, repeat, handover
    language: str | None = None
    transcript_contains: tuple[str, ...] = ()
    max_latency_ms: float | None = None


@dataclass(frozen=True)
class TurnInput:
    audio: Path | None = None
    digits: str | None = None
    channel: int = 0
    expect: Expectation | None = None
    reference: str | None = None  # what the caller really said, for the word error rate
    stored: dict[str, Any] | None = None  # the turn as the call record has it


@dataclass
class Case:
    id: str  # the file, the stored call id, or the scenario's name
    kind: str  # "file", "call" or "scenario"
    turns: list[TurnInput] = field(default_factory=list)
    language: str | None = None  # the call starts in this language (as on a per-language number)
    office_open: bool = False  # closed by default: a hand-over does not end the replayed call


def audio_files(folder: Path) -> list[Path]:
    """Audio files in ``folder`` and below, sorted (other files are ignored)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def file_cases(paths: list[Path], channel: int = 0, references: dict[str, str] | None = None) -> list[Case]:
    """One single-turn case per audio file; folders are expanded. References come from ``references``
    (by file name) or a ``<file>.txt`` next to the audio."""
    references = references or {}
    cases: list[Case] = []
    for path in paths:
        for f in audio_files(path) if path.is_dir() else [path]:
            reference = references.get(f.name)
            sidecar = f.with_suffix(".txt")
            if reference is None and sidecar.is_file():
                reference = sidecar.read_text(encoding="utf-8").strip()
            cases.append(Case(str(f), "file", [TurnInput(audio=f, channel=channel, reference=reference)]))
    return cases


def load_references(path: Path) -> dict[str, str]:
    """Reference transcripts by file name: ``{file: text}``, or ``clips: [{file, transcript}]`` as in
    ``tests/data/speech/ATTRIBUTION.yaml``."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if isinstance(data, dict) and isinstance(data.get("clips"), list):
        return {str(c["file"]): str(c["transcript"]) for c in data["clips"] if "file" in c and "transcript" in c}
    if isinstance(data, dict):
        return {str(k): str(v) for k, v in data.items()}
    raise ScenarioError(f"{path}: expected a mapping of file names to transcripts")


def scenario_cases(path: Path) -> list[Case]:
    """Cases from a scenario file: one scenario (``turns:``) or several (``scenarios: [...]``).

    Raises:
        ScenarioError: For unreadable YAML or a malformed scenario.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping with 'turns' or 'scenarios'")
    items = data.get("scenarios", [data])
    if not isinstance(items, list) or not items:
        raise ScenarioError(f"{path}: 'scenarios' must be a non-empty list")
    return [_scenario(path, item, n) for n, item in enumerate(items, 1)]


def _scenario(path: Path, item: Any, number: int) -> Case:
    where = f"{path} scenario {number}"
    if not isinstance(item, dict) or not isinstance(item.get("turns"), list) or not item["turns"]:
        raise ScenarioError(f"{where}: needs a non-empty 'turns' list")
    name = str(item.get("name") or f"{path.stem}#{number}")
    case = Case(name, "scenario", language=item.get("language"), office_open=bool(item.get("office_open", False)))
    for t, turn in enumerate(item["turns"], 1):
        if not isinstance(turn, dict) or ("audio" in turn) == ("digits" in turn):
            raise ScenarioError(f"{where} turn {t}: give exactly one of 'audio' or 'digits'")
        audio = (path.parent / str(turn["audio"])) if "audio" in turn else None
        case.turns.append(
            TurnInput(
                audio=audio,
                digits=str(turn["digits"]) if "digits" in turn else None,
                channel=int(turn.get("channel", 0)),
                expect=_expectation(turn.get("expect"), f"{where} turn {t}"),
                reference=turn.get("reference"),
            )
        )
    return case


def _expectation(raw: Any, where: str) -> Expectation | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - _EXPECT_KEYS:
        unknown = sorted(set(raw) - _EXPECT_KEYS) if isinstance(raw, dict) else raw
        raise ScenarioError(f"{where}: unknown expectations {unknown}; allowed: {', '.join(sorted(_EXPECT_KEYS))}")
    words = raw.get("transcript_contains", ())
    return Expectation(
        checks_topic="topic" in raw,
        topic=raw.get("topic"),
        handover=raw.get("handover"),
        outcome=raw.get("outcome"),
        language=raw.get("language"),
        transcript_contains=(words,) if isinstance(words, str) else tuple(str(w) for w in words),
        max_latency_ms=float(raw["max_latency_ms"]) if raw.get("max_latency_ms") is not None else None,
    )


def stored_cases(store: Any, call_ids: list[str]) -> tuple[list[Case], list[str]]:
    """Cases from the call record, and the ids that were not found. Turns whose recording was not kept
    (keypad turns, or past the retention period) are part of the case but cannot be replayed."""
    cases, missing = [], []
    for call_id in call_ids:
        call = store.get_call(call_id)
        if call is None:
            missing.append(call_id)
            continue
        turns = [
            TurnInput(audio=Path(row["audio_path"]) if row.get("audio_path") else None, stored=dict(row))
            for row in call["turns"]
        ]
        cases.append(Case(call_id, "call", turns))
    return cases, missing


def parse_day(text: str) -> dt.datetime:
    """``YYYY-MM-DD`` (or a full ISO time) as an aware UTC time."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
