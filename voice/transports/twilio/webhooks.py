"""Twilio voice webhooks (record-and-answer turns): the only code that knows Twilio's form fields.

Each webhook turns Twilio's request into one engine event, checks its call out of the call book, runs the
engine (and the work it asks for) in a worker thread within ``webhook_budget_s``, and answers with TwiML.
Slower work answers "one moment" and continues by redirect, so Twilio's 15-second limit is never reached;
the step's TwiML is kept with the call for the ``continue`` webhook, on whichever node it lands. Every
request must carry a valid ``X-Twilio-Signature``.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from flask import Blueprint, Response, abort, current_app, request

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
from voice.runtime.config import Settings
from voice.runtime.driver import LocalDriver, turn_summary
from voice.stages.audio import AudioDecodeError, load_audio
from voice.transports.twilio.context import Replies, services, verify_signature, xml
from voice.transports.twilio.intake import caller, take_in
from voice.transports.twilio.media_webhooks import connect_stream
from voice.transports.twilio.recordings import RecordingUnavailable, fetch_recording, recording_source
from voice.transports.twilio.registry import CallBook, CallBookUnavailable, TwilioCall, UnknownCall

log = logging.getLogger(__name__)
bp = Blueprint("twilio", __name__, url_prefix="/twilio")
bp.before_request(verify_signature)
_FINISHED = {"completed", "busy", "failed", "no-answer", "canceled"}


def _book() -> CallBook:
    book: CallBook = current_app.extensions["hotline_calls"]
    return book


def _step(call: TwilioCall, future: Future[list[Action]]) -> Response:
    """Answer with the step's TwiML within the budget; otherwise "one moment": the step then finishes on
    its own, leaves its TwiML with the call and checks the call in."""
    replies, book = Replies.here(), _book()
    debug = request.headers.get("X-Hotline-Debug") == "1"  # simulate-call: what the hotline heard and did
    try:
        actions = future.result(timeout=services().settings.webhook_budget_s)
    except FutureTimeout:
        first = not call.waited
        call.waited = True
        future.add_done_callback(lambda done: _finish_later(book, call, done, replies))
        return xml(replies.please_wait(call.driver.state.language if first else None))
    except Exception:  # the engine turns stage failures into speech; this is the last line of defence
        log.exception("call %s failed", call.driver.record.id)
        book.checkin(call)
        return xml(replies.fallback(call.driver.state.language))
    try:
        response = xml(_reply(call, actions, replies))
        if call.driver.turns and any(isinstance(a, RecordTurn) for a in actions):  # for the simulator and QA
            timings = call.driver.turns[-1].timings_ms
            response.headers["X-Hotline-Timings"] = ";".join(f"{k}={v:.0f}" for k, v in timings.items())
        if debug:
            response.headers["X-Hotline-Turn"] = json.dumps(turn_summary(call.driver, actions), ensure_ascii=True)
    finally:
        book.checkin(call)  # whatever happened, the call's next webhook must find it free
    return response


def _reply(call: TwilioCall, actions: list[Action], replies: Replies) -> str:
    call.waited = False
    if call.live is not None and any(isinstance(a, (Hangup, Transfer)) for a in actions):
        call.live.release()  # the hotline's part is over (the status callback may come much later)
    plays = {play.play_id: items for play, items in call.driver.plays[-8:]}
    return replies.step(actions, plays)


def _finish_later(book: CallBook, call: TwilioCall, done: Future[list[Action]], replies: Replies) -> None:
    try:
        call.reply = _reply(call, done.result(), replies)
    except Exception:
        log.exception("call %s failed", call.driver.record.id)
        call.reply = replies.fallback(call.driver.state.language)
    try:
        book.checkin(call)
    except Exception:
        log.exception("call %s: the finished step could not be kept", call.driver.record.id)


def _feed(call: TwilioCall, event: Event) -> Response:
    return _step(call, _book().executor.submit(call.driver.feed, event))


def _call() -> TwilioCall | Response:
    """The webhook's call, checked out; while an earlier step of it still runs: "one moment" again."""
    call = _book().checkout(request.form.get("CallSid", ""), caller(), services().settings.webhook_budget_s)
    return call if call is not None else xml(Replies.here().please_wait(None))


@bp.errorhandler(UnknownCall)
def unknown_call(_: UnknownCall) -> Response:
    log.error("webhook %s for an unknown call; apologising and handing over", request.path)
    return xml(Replies.here().fallback("de"))


@bp.errorhandler(CallBookUnavailable)
def book_unavailable(error: CallBookUnavailable) -> Response:
    log.error("webhook %s: calls in progress cannot be read (%s); apologising and handing over", request.path, error)
    return xml(Replies.here().fallback("de"))


@bp.post("/voice")
def incoming_call() -> Response:
    s = services()
    sid = request.form.get("CallSid", "")
    if not sid:
        abort(400)
    if s.settings.twilio_media == "stream":
        return connect_stream(sid)

    def new_call() -> TwilioCall | Response:
        taken = take_in("twilio", sid)
        if isinstance(taken, Response):
            return taken
        record, live = taken
        driver = LocalDriver(s, call_id=sid, audio_format="ulaw8k", record=record, caller_number=caller())
        return TwilioCall(driver, live=live)

    call = _book().start(sid, caller(), new_call)
    if call is None:  # Twilio repeated the webhook while its first copy still runs
        return xml(Replies.here().please_wait(None))
    if isinstance(call, Response):
        return call
    texter, number = s.texter, call.driver.caller_number
    can_text = texter is not None and texter.can_text(number)
    return _feed(call, CallStarted(sid, office_open=is_open(s.phrases.content.office), can_text=can_text))


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
    if isinstance(call, Response):
        return call
    digits = request.form.get("Digits", "")
    if digits and digits != "hangup":
        return _feed(call, DigitsPressed(digits))
    url = request.form.get("RecordingUrl", "")
    if not url or request.form.get("RecordingDuration", "1") == "0":
        return _feed(call, NoInput())
    book = _book()
    download = book.downloads.submit(_recording_event, url, services().settings)  # no app context there
    return _step(call, book.after_download(download, call.driver.feed))


@bp.post("/digits")
def digits() -> Response:
    call = _call()
    return call if isinstance(call, Response) else _feed(call, DigitsPressed(request.form.get("Digits", "")))


@bp.post("/noinput")
def no_input() -> Response:
    call = _call()
    return call if isinstance(call, Response) else _feed(call, NoInput())


@bp.post("/continue")
def continue_call() -> Response:
    """Twilio comes back after "one moment": the finished step's TwiML, or "one moment" again."""
    call = _call()
    if isinstance(call, Response):
        return call
    if call.reply:
        reply, call.reply = call.reply, ""
        _book().checkin(call)
        return xml(reply)
    return _feed(call, NoInput())  # nothing left to wait for (a repeated request): prompt again


@bp.post("/status")
def status() -> Response:
    sid = request.form.get("CallSid", "")
    if request.form.get("CallStatus", "") in _FINISHED:
        call = _book().finish(sid, caller(), wait_s=services().settings.webhook_budget_s)
        if call is not None:
            if call.live is not None:
                call.live.release()
            reason = end_reason(call.driver.state)
            call.driver.feed(CallEnded(request.form.get("CallStatus", "completed")))
            state = call.driver.state
            call.driver.record.end(reason, state.language, state.handovers)
    return Response("", status=204)
