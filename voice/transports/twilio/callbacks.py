"""Twilio's callbacks outside a call's turns: the whisper to staff before a transfer, SMS delivery reports.

Signed like every Twilio webhook (the same check as ``webhooks.py``: ``context.verify_signature``).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, request

from voice.core.transfer import whisper_text
from voice.runtime.call_record import CallRecord
from voice.transports.twilio import twiml
from voice.transports.twilio.context import Replies, services, verify_signature, xml

bp = Blueprint("twilio_callbacks", __name__, url_prefix="/twilio")
bp.before_request(verify_signature)


@bp.post("/whisper")
def whisper() -> Response:
    """Played to the person who picks up a handed-over call, before it connects: language and topic."""
    s = services()
    language, topic = request.args.get("language", ""), request.args.get("topic", "")
    title = s.engine_config().confirm_titles.get("de", {}).get(topic) if topic else None
    text = whisper_text(s.phrases.content.office, language, title)
    rendered = s.synthesizer.render(text, "de", "ulaw8k")
    return xml(twiml.play([Replies.here().audio(rendered.key)]))


@bp.post("/sms-status")
def sms_status() -> Response:
    """Twilio's signed delivery report for an SMS of a written answer: stored with the turn that sent it."""
    sid, status = request.form.get("MessageSid", ""), request.form.get("MessageStatus", "")
    if not sid or not status:
        abort(400)
    CallRecord.sms_delivery(current_app.extensions["hotline_store"], sid, status)
    return Response("", status=204)
