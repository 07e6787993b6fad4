"""The QA dashboard under ``/dashboard``: how the hotline is doing, its calls, the knowledge base, replays.

Server-rendered pages without scripts. Every page needs a login (named accounts, ``python app.py users``);
``viewer`` accounts read and listen, ``editor`` accounts also mark translations reviewed and start replays.
Forms carry a CSRF token; recordings are served only here and every playback is written to the audit log.
The Twilio webhooks do not pass through any of this. This module holds the login, the overview, the calls
and their recordings; the knowledge-base pages are in ``dashboard_kb.py``, the replays and the audit log in
``dashboard_replay.py``, what they share in ``dashboard_base.py``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hmac
import io
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import (
    Flask,
    Response,
    abort,
    g,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from voice.dashboard import charts
from voice.dashboard.queries import CSV_COLUMNS, CallFilter, csv_rows
from voice.runtime.config import Settings
from voice.web import dashboard_kb, dashboard_replay  # noqa: F401  (their pages join the blueprint)
from voice.web.dashboard_base import (
    LISTEN_DEDUP_S,
    DashboardState,
    audit,
    bp,
    csrf_token,
    dashboard_state,
    default_range,
)

OPEN_ENDPOINTS = {"dashboard.login", "dashboard.static"}


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


# ---- access ----------------------------------------------------------------------------------------


@bp.before_request
def take_a_slot() -> ResponseReturnValue | None:
    """Serve at most ``HOTLINE_DASHBOARD_MAX_CONCURRENT`` dashboard requests at once: the same process
    answers the phone, and a crowd of dashboard users (or a login flood: each login hashes a password)
    must not take the CPU from the callers. The rest are asked to retry."""
    slots = dashboard_state().slots
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
        slots = dashboard_state().slots
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
        name = dashboard_state().sessions.user(token)
        user = dashboard_state().accounts.get(name) if name else None
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


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    state = dashboard_state()
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
        dashboard_state().sessions.end(token)  # the cookie is worthless from now on, even if kept
    session.clear()
    return redirect(url_for("dashboard.login"))


# ---- overview and calls ----------------------------------------------------------------------------


@bp.get("/")
def overview() -> ResponseReturnValue:
    f = CallFilter.from_args(default_range(request.args.to_dict()))
    data = dashboard_state().queries.overview(f)
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
    choices = dashboard_state().queries.choices()
    return render_template("dashboard/overview.html", data=data, f=f, figures=figures, **choices)


@bp.get("/calls")
def calls_list() -> ResponseReturnValue:
    f = CallFilter.from_args(request.args.to_dict())
    found = dashboard_state().queries.calls_with_turns(f, limit=501)
    return render_template(
        "dashboard/calls.html",
        calls=found[:500],
        more=len(found) > 500,
        f=f,
        export=url_for("dashboard.export_csv") + ("?" + urlencode(f.query_args()) if f.query_args() else ""),
        **dashboard_state().queries.choices(),
    )


@bp.get("/calls.csv")
def export_csv() -> ResponseReturnValue:
    f = CallFilter.from_args(request.args.to_dict())
    found = dashboard_state().queries.calls_with_turns(f)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in csv_rows(found):
        writer.writerow([_cell(v) for v in row])
    audit("export", detail=f"{len(found)} calls; " + urlencode(f.query_args()))
    stamp = dt.datetime.now(dashboard_state().queries.timezone).strftime("%Y%m%d-%H%M")
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
    call = dashboard_state().queries.get_call(call_id)
    if call is None:
        abort(404)
    listened = dashboard_state().accounts.audit_entries(limit=50, call_id=call_id)
    return render_template("dashboard/call.html", call=call, listened=listened)


@bp.get("/audio/<int:turn_id>/<side>")
def audio(turn_id: int, side: str) -> ResponseReturnValue:
    """A recording (the caller's question or the hotline's answer), for logged-in users only."""
    if side not in ("caller", "answer"):
        abort(404)
    state = dashboard_state()
    turn = state.queries.get_turn(turn_id)
    stored = turn and turn.get("audio_path" if side == "caller" else "answer_audio_path")
    if not turn or not stored:
        abort(404)
    path = Path(stored).resolve()
    if not path.is_relative_to(state.recordings) or not path.is_file():
        abort(404)  # only files from the recordings folder, and only while they are kept
    detail = f"{side} audio of turn {turn['turn']}"
    if not state.accounts.recent_audit(g.user["name"], "listen", turn["call_id"], detail, LISTEN_DEDUP_S):
        audit("listen", turn["call_id"], turn["turn"], detail)
    response = send_file(path, mimetype="audio/wav", conditional=True, max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response
