"""Commands that work on one question: ``ask``, ``transcribe``, ``answer-audio``, ``prerender`` and
``simulate-call``."""

from __future__ import annotations

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
)
from voice.command_root import services as _services


def emit_json(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, ensure_ascii=False))


def cmd_ask(args: Any, settings: Any) -> int:
    services = _services(settings)
    language = None if args.lang == "auto" else args.lang
    answer = services.answerer.answer(args.text, language)
    text = answer.text or services.phrases.say("unsure_handover", answer.language)
    if answer.outcome == "confirm":
        text = _confirmation_text(services, answer.language, answer.offered)
    if args.json:
        emit_json(
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
            emit_json({"error": "unreadable_audio", "detail": str(clip), "no_speech": True, "text": ""})
        print(f"unreadable audio: {clip}", file=sys.stderr)
        return EXIT_UNREADABLE
    transcriber = _services(settings).transcriber
    t = transcriber.transcribe(clip, None if args.lang == "auto" else args.lang)
    if args.json:
        emit_json(
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
        emit_json(result.as_json(str(args.file), str(args.out) if args.out else None))
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
