"""The QA dashboard under ``/dashboard``: how the hotline is doing, its calls, the knowledge base, replays.

Server-rendered pages without scripts. Every page needs a login (named accounts, ``python app.py users``);
``viewer`` accounts read and listen, ``editor`` accounts also mark translations reviewed and start replays.
Forms carry a CSRF token; recordings are served only here and every playback is written to the audit log.
The Twilio webhooks do not pass through any of this.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hmac
import io
import posixpath
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import yaml
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    send_from_directory,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from pipeline.knowledge import KnowledgeBase, inspect_knowledge_base
from pipeline.review import ReviewEditError, set_reviewed
from voice.dashboard import charts
from voice.dashboard.kb_freshness import KbFreshness
from voice.dashboard.queries import CSV_COLUMNS, CallFilter, Dashboard, csv_rows
from voice.dashboard.replays import ReplayBusy, Replays
from voice.runtime.config import Settings
from voice.storage.accounts import Accounts
from voice.storage.sessions import Sessions
from voice.web.login_guard import LoginGuard

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", template_folder="templates", static_folder="static")
F = TypeVar("F", bound=Callable[..., ResponseReturnValue])
OPEN_ENDPOINTS = {"dashboard.login", "dashboard.static"}
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


def init_app(app: Flask, settings: Settings, services: Any, store: Any, secret: bytes) -> None:
    """Register the dashboard with its session settings (the webhooks use no session)."""
    app.secret_key = secret
    app.config.update(
        SESSION_COOKIE_NAME="hotline_dashboard",
        SESSION_COOKIE_SECURE=settings.dashboard_secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/dashboard",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.dashboard_session_hours),
        SESSION_REFRESH_EACH_REQUEST=False,  # the lifetime counts from the login (the server checks it too)
    )
    app.extensions["hotline_dashboard"] = DashboardState(settings, services, store)
    app.register_blueprint(bp)


def _state() -> DashboardState:
    state: DashboardState = current_app.extensions["hotline_dashboard"]
    return state


# ---- access ----------------------------------------------------------------------------------------


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


@bp.app_template_global("csrf_token")
def _csrf_token_global() -> str:
    return csrf_token()


@bp.before_request
def take_a_slot() -> ResponseReturnValue | None:
    """Serve at most ``HOTLINE_DASHBOARD_MAX_CONCURRENT`` dashboard requests at once: the same process
    answers the phone, and a crowd of dashboard users (or a login flood: each login hashes a password)
    must not take the CPU from the callers. The rest are asked to retry."""
    slots = _state().slots
    if slots is None or request.endpoint == "dashboard.static":
        return None
    if not slots.acquire(blocking=False):
        response = Response("The dashboard is busy. Please try again in a moment.\n", 503, mimetype="text/plain")
        response.headers["Retry-After"] = "2"
        return response
    g.dashboard_slot = True
    return None


@bp.teardown_request
def give_back_the_slot(_error: BaseException | None) -> None:
    if g.pop("dashboard_slot", False):
        slots = _state().slots
        if slots is not None:
            slots.release()


@bp.before_request
def require_login() -> ResponseReturnValue | None:
    if request.method == "POST":
        sent = request.form.get("csrf_token", "")
        if not sent or not hmac.compare_digest(sent, str(session.get("csrf", ""))):
            abort(400, description="The form has expired. Go back, reload the page and try again.")
    g.user = None
    token = str(session.get("sid", ""))
    if token:
        name = _state().sessions.user(token)
        user = _state().accounts.get(name) if name else None
        if user is not None:
            g.user = user
        else:
            session.clear()  # logged out, password changed, account removed or too old: log in again
    if g.user is None and request.endpoint not in OPEN_ENDPOINTS:
        return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
    return None


def _safe_target(target: str) -> str:
    """Where to go after logging in: a dashboard path only (no other site, no header tricks)."""
    if (
        not target.startswith("/dashboard")
        or target.startswith("//")
        or "\\" in target
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target)
    ):
        return url_for("dashboard.overview")
    return target


@bp.after_request
def headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'self'",
    )
    if request.endpoint != "dashboard.static":
        response.headers["Cache-Control"] = "no-store"
    return response


def editor_only(view: F) -> F:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if g.user is None or g.user["role"] != "editor":
            abort(403, description="Only editors can do this.")
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _audit(action: str, call_id: str | None = None, turn: int | None = None, detail: str | None = None) -> None:
    _state().accounts.audit(g.user["name"], action, call_id, turn, detail)


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    state = _state()
    target = _safe_target(request.args.get("next", ""))
    error = None
    if request.method == "POST":
        name = request.form.get("name", "").strip()[:64]
        password = request.form.get("password", "")[:1024]
        attempt = state.logins.begin(name, request.remote_addr or "?")
        if attempt is None:
            error = "Too many failed attempts. Wait ten minutes and try again."
        else:
            user = state.accounts.verify(name, password)
            if user is None:
                error = "Unknown name or wrong password."
            else:
                state.logins.succeeded(attempt)
                state.sessions.prune()  # ended and expired sessions leave the table
                session.clear()  # a fresh session at every login
                session.permanent = True
                session["sid"] = state.sessions.start(user["name"])
                csrf_token()
                state.accounts.audit(user["name"], "login")
                return redirect(target)
    return render_template("dashboard/login.html", error=error, target=target), 401 if error else 200


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    token = str(session.get("sid", ""))
    if token:
        _state().sessions.end(token)  # the cookie is worthless from now on, even if kept
    session.clear()
    return redirect(url_for("dashboard.login"))


# ---- overview and calls ------------------------------------------------------------------------------


def _default_range(args: dict[str, str], days: int = 30) -> dict[str, str]:
    if not args.get("since") and not args.get("until"):
        today = dt.datetime.now(_state().queries.timezone).date()
        args = {**args, "since": (today - dt.timedelta(days=days - 1)).isoformat(), "until": today.isoformat()}
    return args


@bp.get("/")
def overview() -> ResponseReturnValue:
    f = CallFilter.from_args(_default_range(request.args.to_dict()))
    data = _state().queries.overview(f)
    days = data["per_day"]
    labels = [d["day"].strftime("%d.%m.") for d in days]
    figures = {
        "calls": charts.stacked_bars(
            "Questions per day: answered and handed over",
            labels,
            [
                ("answered", [d["answered"] for d in days], "bar-a"),
                ("handed over", [d["handed_over"] for d in days], "bar-b"),
            ],
        ),
        "per_day": charts.stacked_bars(
            "Calls per day: taken and refused (all lines busy)",
            labels,
            [("taken", [d["calls"] for d in days], "bar-c"), ("refused", [d["refused"] for d in days], "bar-b")],
        ),
        "rating": charts.line("Average rating per day (1 to 5)", labels, [d["rating"] for d in days], 5.0),
        "languages": charts.hbars("Calls per language", [(k, float(v)) for k, v in data["languages"]]),
    }
    return render_template("dashboard/overview.html", data=data, f=f, figures=figures, **_state().queries.choices())


@bp.get("/calls")
def calls_list() -> ResponseReturnValue:
    f = CallFilter.from_args(request.args.to_dict())
    found = _state().queries.calls_with_turns(f, limit=501)
    return render_template(
        "dashboard/calls.html",
        calls=found[:500],
        more=len(found) > 500,
        f=f,
        export=url_for("dashboard.export_csv") + ("?" + urlencode(f.query_args()) if f.query_args() else ""),
        **_state().queries.choices(),
    )


@bp.get("/calls.csv")
def export_csv() -> ResponseReturnValue:
    f = CallFilter.from_args(request.args.to_dict())
    found = _state().queries.calls_with_turns(f)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in csv_rows(found):
        writer.writerow([_cell(v) for v in row])
    _audit("export", detail=f"{len(found)} calls; " + urlencode(f.query_args()))
    stamp = dt.datetime.now(_state().queries.timezone).strftime("%Y%m%d-%H%M")
    return Response(
        "\ufeff" + out.getvalue(),  # a byte-order mark so spreadsheet programs read UTF-8
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="hotline-calls-{stamp}.csv"'},
    )


def _cell(value: Any) -> Any:
    """Spreadsheet programs run cells that start like a formula: a transcript must never do that."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@bp.get("/calls/<call_id>")
def call_page(call_id: str) -> ResponseReturnValue:
    call = _state().queries.get_call(call_id)
    if call is None:
        abort(404)
    listened = _state().accounts.audit_entries(limit=50, call_id=call_id)
    return render_template("dashboard/call.html", call=call, listened=listened)


@bp.get("/audio/<int:turn_id>/<side>")
def audio(turn_id: int, side: str) -> ResponseReturnValue:
    """A recording (the caller's question or the hotline's answer), for logged-in users only."""
    if side not in ("caller", "answer"):
        abort(404)
    state = _state()
    turn = state.queries.get_turn(turn_id)
    stored = turn and turn.get("audio_path" if side == "caller" else "answer_audio_path")
    if not turn or not stored:
        abort(404)
    path = Path(stored).resolve()
    if not path.is_relative_to(state.recordings) or not path.is_file():
        abort(404)  # only files from the recordings folder, and only while they are kept
    detail = f"{side} audio of turn {turn['turn']}"
    if not state.accounts.recent_audit(g.user["name"], "listen", turn["call_id"], detail, LISTEN_DEDUP_S):
        _audit("listen", turn["call_id"], turn["turn"], detail)
    response = send_file(path, mimetype="audio/wav", conditional=True, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response


# ---- knowledge base ----------------------------------------------------------------------------------


@bp.get("/kb")
def kb_overview() -> ResponseReturnValue:
    state = _state()
    f = CallFilter.from_args(_default_range(request.args.to_dict(), days=90))
    kb = state.knowledge_base()
    fresh = KbFreshness(state.settings.prompts_dir, kb)
    usage = state.queries.topic_usage(f)
    rows = []
    for topic in kb.topic_ids:
        entry = kb.entries.get(topic)
        per = [u for (t, _), u in usage.items() if t == topic]
        ratings = [r for u in per for r in u["ratings"]]
        rows.append(
            {
                "topic": topic,
                "category": entry.category if entry else "?",
                "checked": entry.checked if entry else "?",
                "stale": fresh.is_stale(entry) if entry else True,
                "answered": sum(u["answered"] for u in per),
                "handed_over": sum(u["handed_over"] for u in per),
                "details": sum(u["details"] for u in per),
                "rating": sum(ratings) / len(ratings) if ratings else None,
                "reviewed": sum(1 for v in (entry.reviewed.values() if entry else ()) if v),
                "languages": len(kb.languages),
            }
        )
    unanswered = state.queries.weak_questions(f, topic="")
    return render_template(
        "dashboard/kb.html", rows=rows, f=f, unanswered=unanswered, languages=kb.languages, fresh=fresh
    )


@bp.get("/kb/<topic>")
def kb_topic(topic: str) -> ResponseReturnValue:
    state = _state()
    kb = state.knowledge_base()
    entry = kb.entries.get(topic)
    if entry is None:
        abort(404)
    f = CallFilter.from_args(_default_range(request.args.to_dict(), days=90))
    usage = state.queries.topic_usage(f)
    languages = [
        {
            "code": lang,
            "text": entry.answers.get(lang, ""),
            "reviewed": entry.reviewed.get(lang, False),
            "questions": entry.questions.get(lang, ()),
            **(usage.get((topic, lang)) or {"answered": 0, "handed_over": 0, "rating": None}),
        }
        for lang in kb.languages
    ]
    weak = state.queries.weak_questions(f, topic=topic)
    fresh = KbFreshness(state.settings.prompts_dir, kb)
    return render_template(
        "dashboard/kb_topic.html",
        entry=entry,
        languages=languages,
        weak=weak,
        f=f,
        stale=fresh.is_stale(entry),
        sources=fresh.sources(entry),
        figures=fresh.figures_of(entry),
    )


@bp.post("/kb/<topic>/<lang>/reviewed")
@editor_only
def kb_set_reviewed(topic: str, lang: str) -> ResponseReturnValue:
    state = _state()
    kb = state.knowledge_base()
    entry = kb.entries.get(topic)
    if entry is None or lang not in kb.languages:
        abort(404)
    value = request.form.get("reviewed") == "true"
    try:
        changed = set_reviewed(entry.source, lang, value)
    except (ReviewEditError, OSError) as exc:
        flash(f"Could not change the file: {exc}", "error")
        return redirect(url_for("dashboard.kb_topic", topic=topic) + f"#lang-{lang}")
    if changed:
        _audit("review", detail=f"{topic} {lang} reviewed={'true' if value else 'false'}")
        flash(f"{topic} ({lang}) is now marked {'reviewed' if value else 'not reviewed'}.", "ok")
    return redirect(url_for("dashboard.kb_topic", topic=topic) + f"#lang-{lang}")


# ---- replay ------------------------------------------------------------------------------------------


@bp.get("/replay")
def replay_list() -> ResponseReturnValue:
    return render_template("dashboard/replays.html", jobs=_state().replays.recent(), running=_state().replays.running)


@bp.post("/replay")
@editor_only
def replay_start() -> ResponseReturnValue:
    call_ids = [c for c in request.form.getlist("call") if c][:200]
    if not call_ids:
        flash("Select at least one call to replay.", "error")
        return redirect(request.referrer or url_for("dashboard.calls_list"))
    try:
        job = _state().replays.start(call_ids, g.user["name"])
    except ReplayBusy:
        flash("A replay is running already; start the next one when it has finished.", "error")
        return redirect(url_for("dashboard.replay_list"))
    except ValueError as exc:
        flash(str(exc), "error")
        return redirect(url_for("dashboard.calls_list"))
    _audit("replay", detail=f"{job}: {len(call_ids)} calls")
    return redirect(url_for("dashboard.replay_page", job=job))


@bp.get("/replay/<job>")
def replay_page(job: str) -> ResponseReturnValue:
    status = _state().replays.status(job)
    if status is None:
        abort(404)
    return render_template("dashboard/replay.html", job=status)


@bp.get("/replay/<job>/<path:name>")
def replay_file(job: str, name: str) -> ResponseReturnValue:
    """The report and the audio it plays (replayed callers' questions: audited like recordings)."""
    folder = _state().replays.folder_of(job)
    name = posixpath.normpath(name)  # before any check: "audio/../status.json" is "status.json"
    allowed = name in ("report.html", "report.json") or (name.startswith("audio/") and name.count("/") == 1)
    if folder is None or not allowed or "\\" in name or not (Path(folder) / name).is_file():
        abort(404)
    if name.startswith("audio/") and not _state().accounts.recent_audit(
        g.user["name"], "listen", None, f"replay {job} {name}", LISTEN_DEDUP_S
    ):
        _audit("listen", detail=f"replay {job} {name}")
    response = send_from_directory(folder, name, conditional=True, max_age=0)
    if name == "report.html":  # the report styles itself inline
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; style-src 'unsafe-inline'; script-src 'none'; frame-ancestors 'none'"
        )
    return response


# ---- audit log ---------------------------------------------------------------------------------------


@bp.get("/audit")
@editor_only
def audit_page() -> ResponseReturnValue:
    entries = _state().accounts.audit_entries(limit=500)
    tz = _state().queries.timezone
    for e in entries:
        at = e["at"] if e["at"].tzinfo else e["at"].replace(tzinfo=dt.UTC)
        e["at_local"] = at.astimezone(tz)
    return render_template("dashboard/audit.html", entries=entries)


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
