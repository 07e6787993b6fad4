"""Liveness and readiness: ``/healthz``."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    services = current_app.extensions["hotline"]
    return jsonify(
        status="ok",
        asr=getattr(services.transcriber, "name", type(services.transcriber).__name__),
        tts=services.synthesizer.name,
        languages=sorted(services.phrases.by_language),
        calls=services.runtime.live_calls(),  # in progress in this process, every transport
        expected_wait_s=round(services.runtime.scheduler.expected_wait_s(), 2),  # for a question finished now
        refused=dict(services.runtime.refused),  # since start, by reason
        recognition_busy_s=round(services.runtime.scheduler.busy_s, 2),  # summed since start: utilisation
    )
