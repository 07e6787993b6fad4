"""Twilio voice webhooks (record-and-answer turns): the only code that knows Twilio's form fields.

Each webhook turns Twilio's request into one engine event, runs the engine (and the work it asks for)
in a worker thread within ``webhook_budget_s``, and answers with TwiML. Slower work answers "one moment"
and continues by redirect, so Twilio's 15-second limit is never reached. Every request must carry a
valid ``X-Twilio-Signature``.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from flask import Blueprint, Response, abort, current_app, request
from twilio.request_validator import RequestValidator

from voice.core.call_state import end_reason
from voice.core.engine_types import (
    Action,
    CallEnded,
    CallStarted,
    DigitsPressed,
    Event,
    Hangup,
    NoInput,
    RecordTurn,
    Transfer,
    UtteranceFinished,
    UtteranceUnreadable,
)
from voice.core.office_hours import is_open
from voice.core.transfer import transfer_number
from voice.runtime.call_record import CallRecord
from voice.runtime.config import Settings
from voice.runtime.driver import LocalDriver, turn_summary
from voice.runtime.runtime import Admission, LiveCall
from voice.runtime.services import Services
from voice.stages.audio import AudioDecodeError, load_audio
from voice.transports.twilio import twiml
from voice.transports.twilio.media_stream import StreamCalls
from voice.transports.twilio.recordings import RecordingUnavailable, fetch_recording, recording_source
from voice.transports.twilio.registry import CallRegistry, TwilioCall
from voice.web.audio import audio_url

log = logging.getLogger(__name__)
bp = Blueprint("twilio", __name__, url_prefix="/twilio")
_FINISHED = {"completed", "busy", "failed", "no-answer", "canceled"}


def _services() -> Services:
    services: Services = current_app.extensions["hotline"]
    return services


def _registry() -> CallRegistry:
    registry: CallRegistry = current_app.extensions["hotline_calls"]
    return registry


def _public_url() -> str:
    base = _services().settings.public_base_url.rstrip("/")
    if not base:
        return request.url
    query = request.query_string.decode()
    return f"{base}{request.path}" + (f"?{query}" if query else "")


@bp.before_request
def verify_signature() -> None:
    token = _services().settings.twilio_auth_token
    if not token:
        log.error("HOTLINE_TWILIO_AUTH_TOKEN is not set: refusing Twilio webhooks")
        abort(403)
    signature = request.headers.get("X-Twilio-Signature", "")
    if not RequestValidator(token).validate(_public_url(), request.form.to_dict(), signature):
        log.warning("forged or mis-signed Twilio request to %s refused", request.path)
        abort(403)


def _routes() -> twiml.Routes:
    base = _services().settings.public_base_url.rstrip("/") or request.host_url.rstrip("/")
    return twiml.Routes(
        f"{base}/twilio/recording", f"{base}/twilio/digits", f"{base}/twilio/noinput", f"{base}/twilio/continue"
    )


def _audio(key: str) -> str:
    s = _services().settings
    base = s.public_base_url.rstrip("/") or request.host_url.rstrip("/")
    return audio_url(base, key, current_app.extensions["hotline_url_secret"], s.audio_url_ttl_s)


def _xml(body: str) -> Response:
    return Response(body, mimetype="text/xml")


def _respond(call: TwilioCall, future: Future[list[Action]]) -> Response:
    """Wait for the engine within the budget; otherwise say "one moment" and come back."""
    services = _services()
    try:
        actions = future.result(timeout=services.settings.webhook_budget_s)
    except FutureTimeout:
        call.pending = future
        audio = None
        if not call.waited:
            call.waited = True
            lang = call.driver.state.language
            rendered = services.synthesizer.render(services.phrases.say("please_wait", lang), lang, "ulaw8k")
            audio = _audio(rendered.key)
        return _xml(twiml.wait_and_continue(audio, _routes()))
    except Exception:  # the engine turns stage failures into speech; this is the last line of defence
        log.exception("call %s failed", call.driver.record.id)
        text = services.phrases.say("technical_fallback", "de")
        return _xml(twiml.spoken_fallback(text, *_dial(Transfer(call.driver.state.language))))
    call.pending, call.waited = None, False
    if call.live is not None and any(isinstance(a, (Hangup, Transfer)) for a in actions):
        call.live.release()  # the hotline's part is over (the status callback may come much later)
    plays = {play.play_id: items for play, items in call.driver.plays[-8:]}
    response = _xml(twiml.render(actions, plays, _audio, _routes(), _dial))
    if call.driver.turns and any(isinstance(a, RecordTurn) for a in actions):  # for the simulator and QA
        timings = call.driver.turns[-1].timings_ms
        response.headers["X-Hotline-Timings"] = ";".join(f"{k}={v:.0f}" for k, v in timings.items())
    if request.headers.get("X-Hotline-Debug") == "1":  # simulate-call: what the hotline heard and did
        response.headers["X-Hotline-Turn"] = json.dumps(turn_summary(call.driver, actions), ensure_ascii=True)
    return response


def _feed(call: TwilioCall, event: Event) -> Response:
    with call.lock:
        future = _registry().executor.submit(call.driver.feed, event)
        return _respond(call, future)


class _UnknownCall(Exception):
    """A webhook for a call this process does not know (e.g. the server restarted mid-call)."""


def _call() -> TwilioCall:
    call = _registry().calls.get(request.form.get("CallSid", ""))
    if call is None:
        raise _UnknownCall()
    return call


@bp.errorhandler(_UnknownCall)
def unknown_call(_: _UnknownCall) -> Response:
    log.error("webhook %s for an unknown call; apologising and handing over", request.path)
    services = _services()
    text = services.phrases.say("technical_fallback", "de")
    return _xml(twiml.spoken_fallback(text, services.phrases.content.office.get("transfer_number")))


@bp.post("/voice")
def incoming_call() -> Response:
    services = _services()
    sid = request.form.get("CallSid", "")
    if not sid:
        abort(400)
    if services.settings.twilio_media == "stream":
        return _connect_stream(sid)
    registry = _registry()
    with registry.lock:
        call = registry.calls.get(sid)
        if call is None:
            taken = _take_in("twilio", sid)
            if isinstance(taken, Response):
                return taken
            record, live = taken
            number = request.form.get("From")  # kept in memory for the SMS the caller may ask for
            driver = LocalDriver(services, call_id=sid, audio_format="ulaw8k", record=record, caller_number=number)
            call = registry.calls[sid] = TwilioCall(driver, live=live)
    open_now = is_open(services.phrases.content.office)
    texter, number = services.texter, call.driver.caller_number
    can_text = texter is not None and texter.can_text(number)
    return _feed(call, CallStarted(sid, office_open=open_now, can_text=can_text))


def _take_in(transport: str, sid: str) -> tuple[CallRecord, LiveCall] | Response:
    """Admit a new call and start its record, or answer with the busy message."""
    admission, live = _services().runtime.admit(transport)
    if live is None:
        return _busy(transport, admission)
    try:
        store = current_app.extensions["hotline_store"]
        return CallRecord.open(store, transport, external_id=sid, caller=request.form.get("From")), live
    except BaseException:
        live.release()
        raise


def _busy(transport: str, admission: Admission) -> Response:
    """All lines busy: say so in German, then in English, with the office's e-mail, and hang up. The
    refused call is stored (ended "busy", no turns) so that the dashboard counts it per day."""
    services = _services()
    CallRecord.refused(current_app.extensions["hotline_store"], transport, request.form.get("From"), admission.reason)
    urls = []
    for lang in ("de", "en"):
        rendered = services.synthesizer.render(services.phrases.say("lines_busy", lang), lang, "ulaw8k")
        urls.append(_audio(rendered.key))
    return _xml(twiml.busy(urls))


def _connect_stream(sid: str) -> Response:
    """Real-time mode: the call continues over a Media Stream (``media_stream.py``)."""
    streams: StreamCalls = current_app.extensions["hotline_streams"]
    store_id = streams.known_call(sid)  # a repeated webhook (Twilio retries) keeps its call record
    live = None
    if store_id is None:
        taken = _take_in("twilio-stream", sid)
        if isinstance(taken, Response):
            return taken
        record, live = taken
        store_id = record.id or ""
    token = streams.register(sid, store_id, is_open(_services().phrases.content.office), live,
                             request.form.get("From"))
    base = _services().settings.public_base_url.rstrip("/") or request.host_url.rstrip("/")
    scheme, _, host = base.partition("://")
    ws_base = f"{'wss' if scheme == 'https' else 'ws'}://{host}"
    twiml_body = twiml.connect_stream(f"{ws_base}/twilio/stream", {"token": token}, f"{base}/twilio/stream-ended")
    return _xml(twiml_body)


@bp.post("/stream-ended")
def stream_ended() -> Response:
    """Twilio asks what follows a closed Media Stream: a transfer to a person, or the end of the call."""
    streams: StreamCalls = current_app.extensions["hotline_streams"]
    sid = request.form.get("CallSid", "")
    with streams.lock:
        outcome = streams.outcomes.pop(sid, None)
        session = streams.active.get(sid)
    if session is not None:
        session.end("stream-closed")
    known = session or streams.recent(sid)
    wanted = (known.transfer_to if known else None) or Transfer(known.driver.state.language if known else "de")
    if outcome == "transfer":
        return _xml(twiml.after_stream(*_dial(wanted)))
    if outcome is None and session is not None:  # the stream broke mid-call: apologise, offer a person
        text = _services().phrases.say("technical_fallback", "de")
        return _xml(twiml.spoken_fallback(text, *_dial(wanted)))
    return _xml(twiml.after_stream(None))


def _dial(transfer: Transfer) -> tuple[str, str]:
    """The staff number for the caller's language, and the whisper they hear before the call connects."""
    number = transfer_number(_services().phrases.content.office, transfer.language)
    base = _services().settings.public_base_url.rstrip("/") or request.host_url.rstrip("/")
    query = urllib.parse.urlencode({"language": transfer.language, "topic": transfer.topic or ""})
    return number, f"{base}/twilio/whisper?{query}"


def _recording_event(url: str, s: Settings) -> Event:
    auth = (s.twilio_account_sid, s.twilio_auth_token) if s.twilio_account_sid else None
    try:
        source = recording_source(url, s.recording_hosts)
        data = fetch_recording(source, auth, s.recording_fetch_tries, allowed_hosts=s.recording_hosts)
        return UtteranceFinished(load_audio(data))
    except (RecordingUnavailable, AudioDecodeError) as exc:
        log.error("caller audio unusable: %s", exc)
        return UtteranceUnreadable(str(exc))


@bp.post("/recording")
def recording() -> Response:
    call = _call()
    digits = request.form.get("Digits", "")
    if digits and digits != "hangup":
        return _feed(call, DigitsPressed(digits))
    url = request.form.get("RecordingUrl", "")
    if not url or request.form.get("RecordingDuration", "1") == "0":
        return _feed(call, NoInput())

    settings = _services().settings  # read here: the worker thread has no application context
    registry = _registry()
    with call.lock:
        download = registry.downloads.submit(_recording_event, url, settings)
        return _respond(call, registry.after_download(download, call.driver.feed))


@bp.post("/digits")
def digits() -> Response:
    return _feed(_call(), DigitsPressed(request.form.get("Digits", "")))


@bp.post("/noinput")
def no_input() -> Response:
    return _feed(_call(), NoInput())


@bp.post("/continue")
def continue_call() -> Response:
    call = _call()
    with call.lock:
        pending = call.pending
        if pending is not None:
            return _respond(call, pending)
    return _feed(call, NoInput())  # nothing left to wait for (a repeated request): prompt again


@bp.post("/status")
def status() -> Response:
    sid = request.form.get("CallSid", "")
    if request.form.get("CallStatus", "") in _FINISHED:
        call = _registry().calls.pop(sid, None)
        if call is not None:
            if call.live is not None:
                call.live.release()
            with call.lock:
                reason = end_reason(call.driver.state)
                call.driver.feed(CallEnded(request.form.get("CallStatus", "completed")))
            state = call.driver.state
            call.driver.record.end(reason, state.language, state.handovers)
    return Response("", status=204)
