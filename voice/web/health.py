"""Liveness and readiness: ``/healthz``."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    services = current_app.extensions["hotline"]
    draining = services.runtime.draining  # 503: a load balancer sends this node nothing new
    body = jsonify(
        status="draining" if draining else "ok",
        asr=getattr(services.transcriber, "name", type(services.transcriber).__name__),
        tts=services.synthesizer.name,
        languages=sorted(services.phrases.by_language),
        calls=services.runtime.live_calls(),  # in progress in this process, every transport
        expected_wait_s=round(services.runtime.scheduler.expected_wait_s(), 2),  # for a question finished now
        predicted_wait_s=_finite(services.runtime.predicted_wait_s(services.runtime.live_calls() + 1)),
        questions_per_call_min=round(services.runtime.rate.per_call_s * 60, 2),  # measured, with the prior
        refused=dict(services.runtime.refused),  # since start, by reason
        recognition_busy_s=round(services.runtime.scheduler.busy_s, 2),  # summed since start: utilisation
    )
    return (body, 503) if draining else body


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus' text format: calls, refusals, the recogniser's queue, stage latency and errors."""
    runtime = current_app.extensions["hotline"].runtime
    return Response(generate_latest(runtime.metrics.registry), mimetype=CONTENT_TYPE_LATEST.split(";")[0])


def _finite(seconds: float) -> float | None:
    """A predicted wait for JSON: None when the load would exceed the recogniser's capacity."""
    return round(seconds, 2) if seconds != float("inf") else None
