"""The command line's parser: every command of ``python app.py`` and its options."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path


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
