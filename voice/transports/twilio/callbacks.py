"""Twilio's callbacks outside a call's turns: the whisper to staff before a transfer, SMS delivery reports.

Signed like every Twilio webhook (the same check as ``webhooks.py``).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, request

from voice.core.transfer import whisper_text
from voice.runtime.call_record import CallRecord
from voice.transports.twilio import twiml
from voice.transports.twilio.webhooks import _audio, _services, _xml, verify_signature

bp = Blueprint("twilio_callbacks", __name__, url_prefix="/twilio")
bp.before_request(verify_signature)


@bp.post("/whisper")
def whisper() -> Response:
    """Played to the person who picks up a handed-over call, before it connects: language and topic."""
    services = _services()
    language, topic = request.args.get("language", ""), request.args.get("topic", "")
    title = services.engine_config().confirm_titles.get("de", {}).get(topic) if topic else None
    text = whisper_text(services.phrases.content.office, language, title)
    rendered = services.synthesizer.render(text, "de", "ulaw8k")
    return _xml(twiml.play([_audio(rendered.key)]))


@bp.post("/sms-status")
def sms_status() -> Response:
    """Twilio's signed delivery report for an SMS of a written answer: stored with the turn that sent it."""
    sid, status = request.form.get("MessageSid", ""), request.form.get("MessageStatus", "")
    if not sid or not status:
        abort(400)
    CallRecord.sms_delivery(current_app.extensions["hotline_store"], sid, status)
    return Response("", status=204)
