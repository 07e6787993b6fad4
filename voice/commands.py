"""The command line: ``python app.py COMMAND`` (see ``--help`` on each command).

Exit codes: 0 success; 1 configuration or content error; 2 usage error; 3 no speech in the audio;
4 unreadable audio; 5 replay found a regression. Machine-readable output (``--json``) goes to stdout,
logs and progress to stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from voice.admin_commands import cmd_retention, cmd_users
from voice.audio_commands import cmd_answer_audio, cmd_ask, cmd_prerender, cmd_simulate, cmd_transcribe
from voice.cli_parser import build_parser
from voice.command_root import (
    EXIT_CONFIG,
    EXIT_USAGE,
    Composition,
    set_root,
)
from voice.qa_commands import cmd_eval, cmd_faq, cmd_replay
from voice.server_commands import cmd_asr_worker, cmd_serve, cmd_sip


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

__all__ = ["Composition", "build_parser", "run_command"]
