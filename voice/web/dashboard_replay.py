"""The dashboard's replay pages (start a replay of selected calls, follow it, read its report and hear
its audio) and the audit log (editors)."""

from __future__ import annotations

import datetime as dt
import posixpath
from pathlib import Path

from flask import abort, flash, g, redirect, render_template, request, send_from_directory, url_for
from flask.typing import ResponseReturnValue

from voice.dashboard.replays import ReplayBusy
from voice.web.dashboard_base import LISTEN_DEDUP_S, audit, bp, dashboard_state, editor_only


@bp.get("/replay")
def replay_list() -> ResponseReturnValue:
    replays = dashboard_state().replays
    return render_template("dashboard/replays.html", jobs=replays.recent(), running=replays.running)


@bp.post("/replay")
@editor_only
def replay_start() -> ResponseReturnValue:
    call_ids = [c for c in request.form.getlist("call") if c][:200]
    if not call_ids:
        flash("Select at least one call to replay.", "error")
        return redirect(request.referrer or url_for("dashboard.calls_list"))
    try:
        job = dashboard_state().replays.start(call_ids, g.user["name"])
    except ReplayBusy:
        flash("A replay is running already; start the next one when it has finished.", "error")
        return redirect(url_for("dashboard.replay_list"))
    except ValueError as exc:
        flash(str(exc), "error")
        return redirect(url_for("dashboard.calls_list"))
    audit("replay", detail=f"{job}: {len(call_ids)} calls")
    return redirect(url_for("dashboard.replay_page", job=job))


@bp.get("/replay/<job>")
def replay_page(job: str) -> ResponseReturnValue:
    status = dashboard_state().replays.status(job)
    if status is None:
        abort(404)
    return render_template("dashboard/replay.html", job=status)


@bp.get("/replay/<job>/<path:name>")
def replay_file(job: str, name: str) -> ResponseReturnValue:
    """The report and the audio it plays (replayed callers' questions: audited like recordings)."""
    folder = dashboard_state().replays.folder_of(job)
    name = posixpath.normpath(name)  # before any check: "audio/../status.json" is "status.json"
    allowed = name in ("report.html", "report.json") or (name.startswith("audio/") and name.count("/") == 1)
    if folder is None or not allowed or "\\" in name or not (Path(folder) / name).is_file():
        abort(404)
    if name.startswith("audio/") and not dashboard_state().accounts.recent_audit(
        g.user["name"], "listen", None, f"replay {job} {name}", LISTEN_DEDUP_S
    ):
        audit("listen", detail=f"replay {job} {name}")
    response = send_from_directory(folder, name, conditional=True, max_age=0)
    if name == "report.html":  # the report styles itself inline
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; style-src 'unsafe-inline'; script-src 'none'; frame-ancestors 'none'"
        )
    return response


@bp.get("/audit")
@editor_only
def audit_page() -> ResponseReturnValue:
    entries = dashboard_state().accounts.audit_entries(limit=500)
    tz = dashboard_state().queries.timezone
    for e in entries:
        at = e["at"] if e["at"].tzinfo else e["at"].replace(tzinfo=dt.UTC)
        e["at_local"] = at.astimezone(tz)
    return render_template("dashboard/audit.html", entries=entries)
