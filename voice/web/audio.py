"""Serving synthesised audio to the carrier under unguessable, expiring URLs.

The cache key is content-addressed, so it could be guessed from a known text; every URL therefore
carries an expiry time and an HMAC over key and expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from flask import Blueprint, abort, current_app, request, send_file
from flask.typing import ResponseReturnValue

bp = Blueprint("audio", __name__)


def _signature(secret: bytes, key: str, expires: int) -> str:
    return hmac.new(secret, f"audio:{key}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]


def audio_url(base: str, key: str, secret: bytes, ttl_s: int, now: float | None = None) -> str:
    expires = int((now or time.time()) + ttl_s)
    return f"{base.rstrip('/')}/audio/{key}.wav?e={expires}&s={_signature(secret, key, expires)}"


@bp.get("/audio/<key>.wav")
def serve_audio(key: str) -> ResponseReturnValue:
    secret: bytes = current_app.extensions["hotline_url_secret"]
    try:
        expires = int(request.args.get("e", "0"))
    except ValueError:
        abort(403)
    given = request.args.get("s", "")
    if expires < time.time() or not hmac.compare_digest(given, _signature(secret, key, expires)):
        abort(403)
    path = current_app.extensions["hotline"].synthesizer.lookup(key)
    if path is None:
        abort(404)
    response = send_file(path, mimetype="audio/wav", max_age=min(3600, expires - int(time.time())))
    response.cache_control.public = False  # the URL is signed for one call: no shared cache keeps it
    response.cache_control.private = True
    return response
