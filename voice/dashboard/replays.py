"""Replays started from the dashboard: selected stored calls through today's hotline, in the background.

One replay runs at a time, in a thread of the server, with the same runner and report as
``python app.py replay``. Each run has a folder under ``<data dir>/replays/<id>/`` with ``status.json``
(who started it, progress) and, when done, ``report.html``, ``report.json`` and the audio the report plays.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import secrets
import threading
from pathlib import Path
from typing import Any

from voice.qa.replay.report import Tolerances, metrics, report_json, summary_lines, verdict, write_report
from voice.qa.replay.run import replay_all
from voice.qa.replay.runner import ReplayOptions, TurnOutcome
from voice.qa.replay.sources import stored_cases

log = logging.getLogger(__name__)
_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")


class ReplayBusy(RuntimeError):
    """A replay is running already."""


class Replays:
    """Start replays of stored calls and read their status and reports."""

    def __init__(self, services: Any, store: Any, folder: Path) -> None:
        self.services = services
        self.store = store
        self.folder = folder
        self._lock = threading.Lock()
        self._running: str | None = None

    def start(self, call_ids: list[str], user: str) -> str:
        with self._lock:
            if self._running is not None:
                raise ReplayBusy(self._running)
            cases, missing = stored_cases(self.store, call_ids)
            if not cases:
                raise ValueError("none of the selected calls is stored")
            now = dt.datetime.now(dt.UTC)
            job = f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
            status = {
                "id": job,
                "state": "running",
                "started_by": user,
                "started_at": now.isoformat(timespec="seconds"),
                "calls": [c.id for c in cases],
                "missing": missing,
                "turns_total": sum(len(c.turns) for c in cases),
                "turns_done": 0,
            }
            self._save(job, status)
            self._running = job
        thread = threading.Thread(target=self._run, args=(job, cases, status), name=f"replay-{job}", daemon=True)
        thread.start()
        return job

    def _run(self, job: str, cases: list[Any], status: dict[str, Any]) -> None:
        def seen(_: TurnOutcome) -> None:
            status["turns_done"] += 1
            self._save(job, status)

        try:
            self.services.warm_up()
            outcomes, skipped = replay_all(
                self.services, cases, ReplayOptions(keep_audio=True), on_turn=seen, progress=False
            )
            m = metrics(outcomes)
            v = verdict(outcomes, m, None, Tolerances(), None)
            data = report_json(outcomes, m, v, skipped)
            write_report(self.folder / job, outcomes, data)
            status.update(state="done", summary=summary_lines(data))
        except Exception as exc:  # the page says what went wrong; the server carries on
            log.exception("replay %s failed", job)
            status.update(state="failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            status["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            self._save(job, status)
            with self._lock:
                self._running = None

    def _save(self, job: str, status: dict[str, Any]) -> None:
        folder = self.folder / job
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "status.json.tmp"
        tmp.write_text(json.dumps(status, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(folder / "status.json")

    @property
    def running(self) -> str | None:
        return self._running

    def folder_of(self, job: str) -> Path | None:
        """The job's folder, or None for an id that is not a replay's (never a path outside)."""
        if not _ID.match(job):
            return None
        folder = self.folder / job
        return folder if (folder / "status.json").is_file() else None

    def status(self, job: str) -> dict[str, Any] | None:
        folder = self.folder_of(job)
        if folder is None:
            return None
        data: dict[str, Any] = json.loads((folder / "status.json").read_text(encoding="utf-8"))
        if data.get("state") == "running" and job != self._running:
            data["state"] = "interrupted"  # the server stopped while it ran
        return data

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        if not self.folder.is_dir():
            return []
        jobs = sorted((p.name for p in self.folder.iterdir() if _ID.match(p.name)), reverse=True)[:limit]
        return [s for s in (self.status(j) for j in jobs) if s is not None]

