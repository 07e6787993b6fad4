"""Replaying many cases: JSON lines and a progress bar as turns finish, unreadable inputs listed."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

from tqdm import tqdm

from voice.qa.replay.runner import ReplayOptions, TurnOutcome, replay_case
from voice.qa.replay.sources import SCENARIO_SUFFIXES, Case
from voice.runtime.services import Services


def replay_all(
    services: Services,
    cases: list[Case],
    options: ReplayOptions = ReplayOptions(),  # noqa: B008 (frozen)
    on_turn: Callable[[TurnOutcome], None] | None = None,
    progress: bool | None = None,
) -> tuple[list[TurnOutcome], list[dict[str, str]]]:
    """Every case in order; returns the outcomes and the inputs that could not be replayed.

    ``progress``: None shows the bar only when stderr is a terminal.
    """
    outcomes: list[TurnOutcome] = []
    skipped: list[dict[str, str]] = []
    bar: Any = tqdm(
        total=sum(len(c.turns) for c in cases), unit="turn", file=sys.stderr, disable=_hidden(progress), leave=False
    )
    try:
        for case in cases:

            def seen(outcome: TurnOutcome) -> None:
                bar.update(1)
                if outcome.status in ("unreadable", "not_recorded"):
                    detail = outcome.detail.removeprefix(f"{outcome.input}: ")
                    skipped.append({"input": outcome.key, "detail": detail})
                if on_turn is not None:
                    on_turn(outcome)

            outcomes.extend(replay_case(services, case, options, on_turn=seen))
    finally:
        bar.close()
    return outcomes, skipped


def _hidden(progress: bool | None) -> bool | None:
    return None if progress is None else not progress


EXIT_REGRESSION = 5  # the verdict failed: a regression against the baseline or a failed expectation


def command(
    args: Any, services: Services, store: Any = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """``python app.py replay``: gather cases, replay them, print/write the results, return the exit code."""
    out, err = out or sys.stdout, err or sys.stderr
    import json

    from voice.qa.replay.report import Tolerances, metrics, report_json, summary_lines, verdict, write_report
    from voice.qa.replay.sources import file_cases, load_references, parse_day, scenario_cases, stored_cases

    missing = [str(p) for p in args.inputs if not p.exists()]
    if missing:
        print(f"error: no such file or folder: {', '.join(missing)}", file=err)
        return 2
    call_ids = list(args.call)
    if (args.since or args.until) and store is not None:
        since = parse_day(args.since) if args.since else None
        until = parse_day(args.until) if args.until else None
        call_ids += [c for c in store.list_calls(since, until) if c not in call_ids]
    cases: list[Case] = []
    if call_ids:
        found, not_found = stored_cases(store, call_ids)
        cases += found
        for call_id in not_found:
            print(f"warning: no stored call {call_id}", file=err)
    references = load_references(args.references) if args.references else {}
    audio = [p for p in args.inputs if p.is_dir() or p.suffix.lower() not in SCENARIO_SUFFIXES]
    cases += file_cases(audio, args.channel, references)
    for p in args.inputs:
        if p.is_file() and p.suffix.lower() in SCENARIO_SUFFIXES:
            cases += scenario_cases(p)
    if not cases:
        print("error: nothing to replay (no audio found, no stored calls matched)", file=err)
        return 2

    def emit(outcome: TurnOutcome) -> None:
        if args.json:
            print(json.dumps(outcome.as_json(), ensure_ascii=False), file=out, flush=True)

    services.warm_up()  # models load before the first turn, as on the live line: latency is per turn only
    options = ReplayOptions(realtime=args.realtime, roundtrip=args.roundtrip, keep_audio=args.report is not None)
    outcomes, skipped = replay_all(services, cases, options, emit, progress=False if args.no_progress else None)
    m = metrics(outcomes)
    baseline = json.loads(args.baseline.read_text(encoding="utf-8")) if args.baseline else None
    tolerances = Tolerances(rate=args.tolerance, latency=args.latency_tolerance, strict_latency=args.strict_latency)
    v = verdict(outcomes, m, baseline, tolerances, str(args.baseline) if args.baseline else None)
    data = report_json(outcomes, m, v, skipped)
    if args.report:
        page = write_report(args.report, outcomes, data)
        print(f"report: {page}", file=err)
    if args.save_baseline:
        args.save_baseline.parent.mkdir(parents=True, exist_ok=True)
        args.save_baseline.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"baseline saved to {args.save_baseline}", file=err)
    for line in summary_lines(data):
        print(line, file=err)
    if not m["replayed"]:
        return 4  # every input was unreadable or had no recording
    return 0 if v.ok else EXIT_REGRESSION
