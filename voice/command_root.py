"""What every command shares: exit codes and the composition root that ``app.py`` hands the commands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

EXIT_OK, EXIT_CONFIG, EXIT_USAGE, EXIT_NO_SPEECH, EXIT_UNREADABLE = 0, 1, 2, 3, 4
EXIT_REGRESSION = 5  # replay: a regression against the baseline, or a failed expectation
EXIT_INTERRUPTED = 130  # Ctrl-C during prerender (what was rendered is kept)


@dataclass(frozen=True)
class Composition:
    """What the composition root (``app.py``) hands the commands, so that nothing here imports it back:
    how to build the engines, the web app and the SIP server, and how to set up logging."""

    create_services: Callable[[Any], Any]
    create_app: Callable[[Any], Any]
    start_sip: Callable[[Any], Any]
    configure_logging: Callable[[str], None]


_root: Composition | None = None  # set by ``run_command`` for the one command a process runs


def set_root(root: Composition) -> None:
    global _root
    _root = root


def composition() -> Composition:
    if _root is None:
        raise RuntimeError("run_command() was not given the composition root")
    return _root


def services(settings: Any) -> Any:
    return composition().create_services(settings)
