"""Taking a Twilio call in (admission and its record), or turning it away with the busy message."""

from __future__ import annotations

from flask import Response, current_app, request

from voice.runtime.call_record import CallRecord
from voice.runtime.runtime import Admission, LiveCall
from voice.transports.twilio import twiml
from voice.transports.twilio.context import Replies, services, xml


def caller() -> str | None:
    return request.form.get("From") or None  # every webhook carries it: used for an SMS, never kept


def take_in(transport: str, sid: str) -> tuple[CallRecord, LiveCall] | Response:
    """Admit a new call and start its record, or answer with the busy message."""
    admission, live = services().runtime.admit(transport)
    if live is None:
        return busy(transport, admission)
    try:
        return open_record(transport, sid), live
    except BaseException:
        live.release()
        raise


def open_record(transport: str, sid: str) -> CallRecord:
    return CallRecord.open(current_app.extensions["hotline_store"], transport, external_id=sid, caller=caller())


def busy(transport: str, admission: Admission) -> Response:
    """All lines busy: say so in German, then in English, with the office's e-mail, and hang up. The
    refused call is stored (ended "busy", no turns) so that the dashboard counts it per day."""
    CallRecord.refused(current_app.extensions["hotline_store"], transport, caller(), admission.reason)
    replies = Replies.here()
    return xml(twiml.busy([replies.say("lines_busy", lang) for lang in ("de", "en")]))
