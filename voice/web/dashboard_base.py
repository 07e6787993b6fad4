"""The QA dashboard's blueprint and what every page shares: per-application state, the CSRF token,
the editor check, the audit log and the template filters. The pages are in ``dashboard.py`` (login,
overview, calls, recordings), ``dashboard_kb.py`` (knowledge base) and ``dashboard_replay.py``
(replays, audit log)."""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import yaml
from flask import Blueprint, abort, current_app, g, session
from flask.typing import ResponseReturnValue

from pipeline.knowledge import KnowledgeBase, inspect_knowledge_base
from voice.dashboard.queries import Dashboard
from voice.dashboard.replays import Replays
from voice.runtime.config import Settings
from voice.storage.accounts import Accounts
from voice.storage.sessions import Sessions
from voice.web.login_guard import LoginGuard

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", template_folder="templates", static_folder="static")
F = TypeVar("F", bound=Callable[..., ResponseReturnValue])
LISTEN_DEDUP_S = 120  # range requests of one playback make one audit entry


class DashboardState:
    """What the dashboard keeps per application."""

    def __init__(self, settings: Settings, services: Any, store: Any) -> None:
        self.settings = settings
        self.accounts = Accounts(store.engine)
        self.sessions = Sessions(store.engine, dt.timedelta(hours=settings.dashboard_session_hours))
        self.logins = LoginGuard()
        limit = settings.dashboard_max_concurrent
        self.slots = threading.BoundedSemaphore(limit) if limit else None  # the calls' share of the CPU
        self.queries = Dashboard(store.engine, _office_timezone(settings))
        self.replays = Replays(services, store, settings.data_dir / "replays")
        self.recordings = (settings.data_dir / "recordings").resolve()
        self._kb: tuple[tuple[Any, ...], KnowledgeBase] | None = None

    def knowledge_base(self) -> KnowledgeBase:
        """The knowledge base as the files say now (parsed again only when a file changed)."""
        folder = self.settings.prompts_dir
        stamp = tuple(
            (p.name, p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted([*(folder / "faq").glob("*.yaml"), folder / "topics.yaml"])
        )
        if self._kb is None or self._kb[0] != stamp:
            self._kb = (stamp, inspect_knowledge_base(folder)[0])
        return self._kb[1]


def _office_timezone(settings: Settings) -> ZoneInfo:
    try:
        profile = yaml.safe_load(settings.office_profile.read_text(encoding="utf-8")) or {}
        return ZoneInfo(str(profile.get("timezone") or "Europe/Berlin"))
    except (OSError, yaml.YAMLError, ValueError):
        return ZoneInfo("Europe/Berlin")


def dashboard_state() -> DashboardState:
    state: DashboardState = current_app.extensions["hotline_dashboard"]
    return state


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


@bp.app_template_global("csrf_token")
def _csrf_token_global() -> str:
    return csrf_token()


def editor_only(view: F) -> F:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if g.user is None or g.user["role"] != "editor":
            abort(403, description="Only editors can do this.")
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def audit(action: str, call_id: str | None = None, turn: int | None = None, detail: str | None = None) -> None:
    dashboard_state().accounts.audit(g.user["name"], action, call_id, turn, detail)


def default_range(args: dict[str, str], days: int = 30) -> dict[str, str]:
    if not args.get("since") and not args.get("until"):
        today = dt.datetime.now(dashboard_state().queries.timezone).date()
        args = {**args, "since": (today - dt.timedelta(days=days - 1)).isoformat(), "until": today.isoformat()}
    return args


@bp.app_template_filter("ms")
def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms".replace(",", " ")


@bp.app_template_filter("pct")
def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


@bp.app_template_filter("when")
def _when(value: dt.datetime | None) -> str:
    return "–" if value is None else value.strftime("%d.%m.%Y %H:%M")


@bp.app_template_filter("rating")
def _rating(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"
