"""The command line: ``python app.py COMMAND`` (see ``--help`` on each command).

Exit codes: 0 success; 1 configuration or content error; 2 usage error; 3 no speech in the audio;
4 unreadable audio; 5 replay found a regression. Machine-readable output (``--json``) goes to stdout,
logs and progress to stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from voice.command_root import (
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    EXIT_NO_SPEECH,
    EXIT_OK,
    EXIT_UNREADABLE,
    EXIT_USAGE,
    Composition,
    set_root,
)
from voice.command_root import services as _services
from voice.server_commands import cmd_asr_worker, cmd_serve, cmd_sip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python app.py", description="Multilingual voice hotline for immigration-law questions."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("serve", help="run the web server (Twilio webhooks, /healthz)")
    p.add_argument("--host", help="bind address (default HOTLINE_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default HOTLINE_PORT or 8080)")
    p.add_argument("--sip", action="store_true", help="also answer SIP calls (same as HOTLINE_SIP_ENABLED=true)")
    p = sub.add_parser("sip", help="answer SIP calls from a PBX or SIP trunk (no web server)")
    p.add_argument("--host", help="SIP bind address (default HOTLINE_SIP_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="SIP port, UDP and TCP (default HOTLINE_SIP_PORT or 5060)")
    p = sub.add_parser("asr-worker", help="recognise questions for the call nodes, from Redis (HOTLINE_REDIS_URL)")
    p.add_argument("--metrics-port", type=int, default=0, help="serve Prometheus metrics on this port (0: none)")
    p = sub.add_parser("ask", help="answer a typed question")
    p.add_argument("text", help="the question")
    p.add_argument("--lang", default="auto", help="language code, or 'auto' to infer it (default)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p = sub.add_parser("transcribe", help="transcribe an audio file")
    p.add_argument("file", type=Path)
    p.add_argument("--lang", default="auto", help="force a language instead of detecting it")
    p.add_argument("--channel", type=int, default=0, help="channel of multi-channel audio (0: caller)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p = sub.add_parser("answer-audio", help="one whole turn: recorded question in, spoken answer out")
    p.add_argument("file", type=Path)
    p.add_argument("--out", type=Path, help="write what the caller hears to this WAV file")
    p.add_argument("--format", choices=("ulaw8k", "pcm16k"), default="pcm16k", help="WAV format of --out")
    p.add_argument("--channel", type=int, default=0, help="channel of multi-channel audio (0: caller)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p = sub.add_parser("replay", help="re-run recorded calls, audio files or scenarios through today's hotline")
    p.add_argument("inputs", type=Path, nargs="*", help="audio files, folders of audio files, YAML scenarios")
    p.add_argument("--call", action="append", default=[], metavar="CALL_ID", help="a stored call (repeatable)")
    p.add_argument("--since", metavar="DAY", help="stored calls started on or after DAY (YYYY-MM-DD)")
    p.add_argument("--until", metavar="DAY", help="stored calls started before DAY (YYYY-MM-DD)")
    p.add_argument("--channel", type=int, default=0, help="channel of multi-channel audio (0: the caller on Twilio)")
    p.add_argument("--references", type=Path, help="YAML of reference transcripts by file name (for the WER)")
    p.add_argument("--json", action="store_true", help="print one JSON object per turn")
    p.add_argument("--report", type=Path, metavar="DIR", help="write report.html, report.json and audio/ here")
    p.add_argument("--baseline", type=Path, help="a saved report.json to compare with (regression verdict)")
    p.add_argument("--save-baseline", type=Path, metavar="FILE", help="save this run as the next baseline")
    p.add_argument("--tolerance", type=float, default=0.0, help="allowed drop in accuracy / rise in rates (0.0)")
    p.add_argument("--latency-tolerance", type=float, default=0.5, help="p95 latency growth reported (0.5 = 50%%)")
    p.add_argument("--strict-latency", action="store_true",
                   help="fail the verdict on slower latency too (by default a warning: it drifts between runs)")
    p.add_argument("--realtime", action="store_true", help="pace audio and answers as on a real line")
    p.add_argument("--roundtrip", action="store_true", help="transcribe each spoken answer and compare it")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (default: shown on a terminal)")
    p = sub.add_parser("prerender", help="synthesise every prompt and answer into audio_cache/")
    p.add_argument("--format", choices=("ulaw8k", "pcm16k", "both"), default="ulaw8k")
    p.add_argument(
        "--engine",
        help="engine chain for this run, e.g. 'coqui' (Coqui voices, eSpeak NG where none); default HOTLINE_TTS_ENGINE",
    )
    p.add_argument("--download", action="store_true", help="fetch missing Coqui models into the models directory first")
    p = sub.add_parser("eval", help="evaluate what the hotline does with a question file (typed or spoken)")
    p.add_argument("questions", type=Path, help="YAML list of {lang, topic|null, text}")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--spoken",
        action="store_true",
        help="speak each question with the configured voice, send it through the phone codec, recognise and "
        "answer it with the live call engine (language detected as on a call)",
    )
    p.add_argument("--codec", choices=("ulaw", "alaw"), default="ulaw", help="phone codec for --spoken")
    p.add_argument("--noise-snr", type=float, metavar="DB", help="--spoken: add line noise at this SNR (e.g. 20)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (default: shown on a terminal)")
    p = sub.add_parser("simulate-call", help="play Twilio's part against a running server")
    p.add_argument("questions", type=Path, nargs="+", help="recorded questions (WAV/MP3/…), asked in turn")
    p.add_argument("--digits", default="5", help="rating to press at the end (default 5)")
    p.add_argument(
        "--confirm", default="1", choices=("0", "1", "2"), help="key pressed when the hotline asks to confirm a topic"
    )
    p.add_argument("--url", help="server base URL (default http://HOTLINE_HOST:HOTLINE_PORT)")
    p = sub.add_parser("retention", help="delete recordings and transcripts older than the office's periods")
    p.add_argument("--delete-call", metavar="CALL_ID", help="erase one call completely (a deletion request)")
    p = sub.add_parser("users", help="accounts of the QA dashboard (/dashboard)")
    users = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    u = users.add_parser("add", help="create an account (asks for the password, or reads it from stdin)")
    u.add_argument("name")
    u.add_argument("--role", choices=("viewer", "editor"), default="viewer", help="viewer (default) or editor")
    u = users.add_parser("passwd", help="set a new password (asks for it, or reads it from stdin)")
    u.add_argument("name")
    u = users.add_parser("role", help="change an account's role")
    u.add_argument("name")
    u.add_argument("role", choices=("viewer", "editor"))
    u = users.add_parser("remove", help="delete an account")
    u.add_argument("name")
    users.add_parser("list", help="list the accounts")
    p = sub.add_parser("faq", help="knowledge-base tools")
    faq = p.add_subparsers(dest="faq_command", required=True, metavar="FAQ_COMMAND")
    p = faq.add_parser("check", help="check schema, coverage of every topic and language, references, prompts")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--warnings",
        action="store_true",
        help="also list content warnings (length, review, stale checks, figures expiring)",
    )
    p.add_argument(
        "--on",
        type=dt.date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="judge check dates and figure validity on this day instead of today (to see what a date will need)",
    )
    return parser


def run_command(args: Any, parser: argparse.ArgumentParser, root: Composition) -> int:
    set_root(root)
    from pipeline.content import ContentError
    from pipeline.knowledge import KnowledgeBaseError
    from voice.qa.replay.sources import ScenarioError
    from voice.runtime.config import ConfigError, Settings
    from voice.runtime.phrases import PhraseError

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    root.configure_logging(settings.log_level)
    handler = _HANDLERS[args.command]
    try:
        return handler(args, settings)
    except (KnowledgeBaseError, PhraseError, ContentError, ConfigError, ScenarioError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ValueError as exc:
        parser.error(str(exc))
        return EXIT_USAGE


def _emit(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, ensure_ascii=False))


def cmd_ask(args: Any, settings: Any) -> int:
    services = _services(settings)
    language = None if args.lang == "auto" else args.lang
    answer = services.answerer.answer(args.text, language)
    text = answer.text or services.phrases.say("unsure_handover", answer.language)
    if answer.outcome == "confirm":
        text = _confirmation_text(services, answer.language, answer.offered)
    if args.json:
        _emit(
            {
                "language": answer.language,
                "topic": answer.topic,
                "handover": answer.handover,
                "answer": text,
                "legal_basis": answer.legal_basis,
                "as_of": answer.as_of,
                "score": answer.score,
                "margin": answer.margin,
                "reason": answer.reason,
                "reviewed": answer.reviewed,
                "outcome": answer.outcome,
                "candidates": list(answer.offered),
            }
        )
        return EXIT_OK
    shown = answer.topic or ("confirm " + " / ".join(answer.offered) if answer.offered else "-")
    print(f"[{answer.language}] topic: {shown} (score {answer.score:.3f}; {answer.reason})")
    print(text)
    if answer.legal_basis:
        print(f"Legal basis: {', '.join(answer.legal_basis)} (as of {answer.as_of})")
    return EXIT_OK


def _confirmation_text(services: Any, language: str, offered: list[str]) -> str:
    """What a caller hears when the hotline asks which topic they mean."""
    titles = services.engine_config().confirm_titles.get(language, {})
    named = [titles.get(t, t) for t in offered]
    if len(named) > 1:
        return str(services.phrases.say("topic_confirm", language, topic=named[0], alternative=named[1]))
    return str(services.phrases.say("topic_confirm_single", language, topic=named[0]))


def _load(path: Path, channel: int) -> Any:
    from voice.stages.audio import AudioDecodeError, load_audio

    try:
        return load_audio(path, channel=channel)
    except AudioDecodeError as exc:
        return exc


def cmd_transcribe(args: Any, settings: Any) -> int:
    clip = _load(args.file, args.channel)
    if isinstance(clip, Exception):
        if args.json:
            _emit({"error": "unreadable_audio", "detail": str(clip), "no_speech": True, "text": ""})
        print(f"unreadable audio: {clip}", file=sys.stderr)
        return EXIT_UNREADABLE
    transcriber = _services(settings).transcriber
    t = transcriber.transcribe(clip, None if args.lang == "auto" else args.lang)
    if args.json:
        _emit(
            {
                "text": t.text,
                "language": t.language,
                "language_probability": round(t.language_probability, 3),
                "duration_s": round(t.duration_s, 2),
                "no_speech": t.no_speech,
                "asr_ms": t.asr_ms,
                "status": t.status.value,
                "detail": t.detail,
            }
        )
    elif t.no_speech:
        print(f"no speech: {t.detail}", file=sys.stderr)
    else:
        print(f"[{t.language} {t.language_probability:.2f}] {t.text}")
    return EXIT_NO_SPEECH if t.no_speech else EXIT_OK


def cmd_answer_audio(args: Any, settings: Any) -> int:
    from voice.runtime.turn import run_single_turn, write_heard

    clip = _load(args.file, args.channel)
    services = _services(settings)
    if isinstance(clip, Exception):
        print(f"unreadable audio: {clip}", file=sys.stderr)
        result = run_single_turn(services, None)
        code = EXIT_UNREADABLE
    else:
        result = run_single_turn(services, clip)
        code = EXIT_NO_SPEECH if result.no_speech else EXIT_OK
    if args.out:
        write_heard(result, args.out, args.format)
    if args.json:
        _emit(result.as_json(str(args.file), str(args.out) if args.out else None))
    else:
        print(result.describe())
        if args.out:
            print(f"spoken answer written to {args.out}")
    return code


def cmd_prerender(args: Any, settings: Any) -> int:
    import dataclasses

    from voice.qa.prerender import prerender
    from voice.runtime.config import ConfigError

    formats = ("ulaw8k", "pcm16k") if args.format == "both" else (args.format,)
    changes: dict[str, Any] = {}
    if args.engine:
        changes["tts_engine"] = args.engine
    if args.download:
        changes["coqui_download"] = True
    if changes:
        settings = dataclasses.replace(settings, **changes)
        if problems := settings.problems():
            raise ConfigError("; ".join(problems))
    report = prerender(_services(settings), formats)
    print("\n".join(report.lines()))
    return EXIT_INTERRUPTED if report.interrupted else EXIT_OK


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
        _emit(report)
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
        _emit(report.as_json())
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


def cmd_simulate(args: Any, settings: Any) -> int:
    from tools.simulate import SimulatedCall, run

    if not settings.twilio_auth_token:
        print("error: set HOTLINE_TWILIO_AUTH_TOKEN (the same value the server uses)", file=sys.stderr)
        return EXIT_CONFIG
    missing = [str(q) for q in args.questions if not q.is_file()]
    if missing:
        print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    import requests

    url = args.url or f"http://{settings.host}:{settings.port}"
    try:
        call = SimulatedCall(url, settings.twilio_auth_token, list(args.questions), args.digits, args.confirm)
        return run(call)
    except requests.ConnectionError:
        print(f"error: cannot reach the hotline at {url}: is `python app.py serve` running?", file=sys.stderr)
        return EXIT_CONFIG
    except requests.HTTPError as exc:
        print(f"error: the hotline answered {exc}", file=sys.stderr)
        return EXIT_CONFIG


def cmd_retention(args: Any, settings: Any) -> int:
    import datetime as dt

    from pipeline.content import load_content
    from voice.storage.factory import make_store

    store = make_store(settings)
    store.warm_up()
    if args.delete_call:
        found = store.delete_call(args.delete_call)
        print(f"call {args.delete_call}: {'deleted' if found else 'not found'}")
        return EXIT_OK if found else EXIT_USAGE
    retention = load_content(settings.office_profile, settings.prompts_dir / "figures.yaml").office.get("retention", {})
    now = dt.datetime.now(dt.UTC)
    result = store.purge(
        transcripts_before=now - dt.timedelta(days=int(retention.get("transcripts_days", 90))),
        recordings_before=now - dt.timedelta(days=int(retention.get("recordings_days", 30))),
    )
    print(f"removed {result.transcripts} transcripts and {result.recordings} recordings past their retention period")
    return EXIT_OK


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


def _read_password() -> str:
    """From the terminal (asked twice), or the first line of stdin when it is not a terminal."""
    import getpass

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def cmd_users(args: Any, settings: Any) -> int:
    from voice.storage.accounts import AccountError, Accounts
    from voice.storage.factory import make_store

    store = make_store(settings)
    store.warm_up()
    accounts = Accounts(store.engine)
    try:
        if args.users_command == "add":
            accounts.add(args.name, _read_password(), args.role)
            print(f"user {args.name} added ({args.role})")
        elif args.users_command == "passwd":
            accounts.set_password(args.name, _read_password())
            print(f"password of {args.name} changed (their open sessions end)")
        elif args.users_command == "role":
            accounts.set_role(args.name, args.role)
            print(f"{args.name} is now {args.role}")
        elif args.users_command == "remove":
            found = accounts.remove(args.name)
            print(f"user {args.name}: {'removed' if found else 'not found'}")
            return EXIT_OK if found else EXIT_USAGE
        else:
            for user in accounts.all():
                last = user["last_login_at"].strftime("%Y-%m-%d %H:%M") if user["last_login_at"] else "never"
                print(f"{user['name']:<24}{user['role']:<8}last login {last}")
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


_HANDLERS = {
    "serve": cmd_serve,
    "asr-worker": cmd_asr_worker,
    "sip": cmd_sip,
    "ask": cmd_ask,
    "transcribe": cmd_transcribe,
    "answer-audio": cmd_answer_audio,
    "prerender": cmd_prerender,
    "eval": cmd_eval,
    "faq": cmd_faq,
    "retention": cmd_retention,
    "simulate-call": cmd_simulate,
    "replay": cmd_replay,
    "users": cmd_users,
}
