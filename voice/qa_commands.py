"""Commands for quality assurance: ``eval`` (typed or spoken question sets), ``faq`` (check and review
the knowledge base) and ``replay`` (stored calls, audio files, scenarios)."""

from __future__ import annotations

import sys
from typing import Any

from voice.audio_commands import emit_json
from voice.command_root import (
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_USAGE,
)
from voice.command_root import services as _services


def cmd_eval(args: Any, settings: Any) -> int:
    from voice.qa.evaluation import evaluate, format_report, load_questions

    items = load_questions(args.questions)
    services = _services(settings)
    extra: tuple[tuple[str, str, int], ...] = ()
    if args.spoken:
        report, extra = _eval_spoken(services, items, args)
    else:
        report = evaluate(services.answerer, items, services.engine_config().outcome_policy)
    if args.json:
        emit_json(report)
    else:
        print(format_report(report, extra))
        for lang, why in sorted(report.get("skipped_languages", {}).items()):
            print(f"not spoken: {lang} ({why})")
    return EXIT_OK


def _eval_spoken(services: Any, items: list[Any], args: Any) -> tuple[dict[str, Any], tuple[Any, ...]]:
    from tqdm import tqdm

    from voice.qa.spoken_eval import SPEECH_COLUMNS, SpokenOptions, evaluate_spoken

    options = SpokenOptions(codec=args.codec, noise_snr_db=args.noise_snr)
    show = not args.no_progress and sys.stderr.isatty()
    with tqdm(total=len(items), desc="spoken questions", unit="q", disable=not show) as bar:
        report = evaluate_spoken(services, items, options, progress=lambda n: bar.update(n - bar.n))
    return report, SPEECH_COLUMNS


def cmd_faq(args: Any, settings: Any) -> int:
    from voice.qa.faq_check import check

    report = check(settings.prompts_dir, settings.office_profile, today=args.on)
    if args.json:
        emit_json(report.as_json())
    else:
        print(report.table())
        for e in report.errors:
            print(f"error: {e}", file=sys.stderr)
        if args.warnings:
            for w in report.warnings:
                print(f"warning: {w}", file=sys.stderr)
        if report.example_profile:
            print("note: the office profile is the shipped EXAMPLE; write your own before going live", file=sys.stderr)
        entries = min(c["answers"] for c in report.coverage.values()) if report.coverage else 0
        print(
            f"{entries}/{report.topics} topics in every language; {len(report.errors)} errors, "
            f"{len(report.warnings)} warnings{'' if args.warnings else ' (--warnings lists them)'}"
        )
    return EXIT_OK if report.ok else EXIT_CONFIG


def cmd_replay(args: Any, settings: Any) -> int:
    from voice.qa.replay.run import command

    if not (args.inputs or args.call or args.since or args.until):
        print("error: give audio files, folders, scenarios, --call or --since/--until", file=sys.stderr)
        return EXIT_USAGE
    store = None
    if args.call or args.since or args.until:
        from voice.storage.factory import make_store

        store = make_store(settings)
        store.warm_up()
    return command(args, _services(settings), store)
