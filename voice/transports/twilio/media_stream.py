"""Twilio Media Streams (``<Connect><Stream>``): the only code that knows that WebSocket protocol.

The voice webhook (signed, in ``webhooks.py``) registers the call and hands Twilio a one-time token as a
custom ``<Parameter>``; the socket's ``start`` message must carry it, so a stream nobody asked for is
refused. Messages become calls on a ``StreamSession``; its output becomes ``media``, ``mark`` and
``clear`` messages. To transfer or end the call the hotline closes the socket, and Twilio asks the
``<Connect action>`` URL (``/twilio/stream-ended``) what comes next.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from flask import Blueprint, current_app, request
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from voice.runtime.call_record import CallRecord
from voice.runtime.services import Services
from voice.runtime.stream.session import StreamSession, stream_settings
from voice.runtime.stream.vad import SileroModel
from voice.stages.g711 import mulaw_decode
from voice.transports.twilio.stream_calls import ProtocolError, StreamCalls

log = logging.getLogger(__name__)
bp = Blueprint("media_stream", __name__)
sock = Sock()

MAX_MESSAGE_BYTES = 64 * 1024  # a 20 ms media message is ~300 bytes; anything huge is not Twilio
START_TIMEOUT_S = 5.0  # Twilio sends "connected" and "start" at once; a socket that does not is closed


class TwilioSink:
    """Writes a session's output as Media Streams messages (thread-safe)."""

    def __init__(self, ws: Any, stream_sid: str, call_sid: str, calls: StreamCalls) -> None:
        self.ws, self.stream_sid, self.call_sid, self.calls = ws, stream_sid, call_sid, calls
        self._lock = threading.Lock()

    def _send(self, message: dict[str, Any]) -> None:
        with self._lock:
            self.ws.send(json.dumps({**message, "streamSid": self.stream_sid}))

    def send_frame(self, payload: bytes) -> None:
        self._send({"event": "media", "media": {"payload": base64.b64encode(payload).decode()}})

    def send_mark(self, name: str) -> None:
        self._send({"event": "mark", "mark": {"name": name}})

    def clear(self) -> None:
        self._send({"event": "clear"})

    def transfer(self) -> None:
        self._close("transfer")

    def hangup(self) -> None:
        self._close("hangup")

    def _close(self, outcome: str) -> None:
        with self.calls.lock:
            self.calls.outcomes[self.call_sid] = outcome
            session = self.calls.active.get(self.call_sid)
        if self.calls.directory is not None and session is not None:  # ``stream-ended`` may go to another node
            wanted = session.transfer_to
            language = wanted.language if wanted else session.driver.state.language
            try:
                self.calls.directory.ended(self.call_sid, outcome, language, wanted.topic if wanted else None)
            except redis.RedisError as exc:
                log.warning("how the stream of call %s ended could not be shared (%s)", self.call_sid, exc)
        with self._lock:
            self.ws.close(reason=1000, message=outcome)


def _forget(calls: StreamCalls, call_sid: str) -> Callable[[StreamSession], None]:
    return lambda session: calls.ended(session, call_sid)


def _parse(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, str):
        raise ProtocolError("binary message (Media Streams sends JSON text)")
    try:
        message = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {exc.msg}") from exc
    if not isinstance(message, dict) or not isinstance(message.get("event"), str):
        raise ProtocolError("message without an event")
    return message


def _field(message: dict[str, Any], *path: str) -> Any:
    value: Any = message
    for key in path:
        if not isinstance(value, dict) or key not in value:
            raise ProtocolError(f"{message.get('event')} message without {'.'.join(path)}")
        value = value[key]
    return value


@sock.route("/twilio/stream", bp=bp)
def media_stream(ws: Any) -> None:
    services: Services = current_app.extensions["hotline"]
    calls: StreamCalls = current_app.extensions["hotline_streams"]
    store = current_app.extensions["hotline_store"]
    session: StreamSession | None = None
    call_sid = ""
    address = request.remote_addr or "?"
    if not calls.unstarted.admit(address):
        if count := calls.refusals.count(address):
            log.warning("media streams refused: %s had %d sockets without a start (%d refused)",
                        address, calls.unstarted.limit, count)
        with contextlib.suppress(Exception):
            ws.close(reason=1008, message="too many unstarted streams")
        return
    unstarted = True
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            raw = ws.receive(timeout=None if session is not None else max(0.0, deadline - time.monotonic()))
            if raw is None and session is None:
                raise ProtocolError(f"no valid start message within {START_TIMEOUT_S:.0f} s")
            message = _parse(raw)
            event = message["event"]
            if event == "connected":
                continue
            if event == "start":
                if session is not None:
                    raise ProtocolError("second start message")
                call_sid = str(_field(message, "start", "callSid"))
                stream_sid = str(_field(message, "start", "streamSid"))
                params = _field(message, "start", "customParameters")
                params = params if isinstance(params, dict) else {}
                caller = str(params.get("caller") or "") or None  # handed over by another node, through Twilio
                registration = calls.claim(call_sid, str(params.get("token", "")), caller)
                if registration.handed:
                    with calls.lock:
                        calls.live[call_sid] = services.runtime.count("twilio-stream")
                calls.unstarted.release(address)
                unstarted = False
                sink = TwilioSink(ws, stream_sid, call_sid, calls)
                session = StreamSession(
                    services,
                    sink,
                    SileroModel.shared().detector(8000),
                    calls.executor,
                    call_sid,
                    record=CallRecord(store, registration.store_call_id),
                    caller_number=registration.caller_number,
                    settings=stream_settings(services),
                    on_finished=_forget(calls, call_sid),
                )
                with calls.lock:
                    calls.active[call_sid] = session
                session.start(office_open=registration.office_open)
                log.info("media stream %s started for call %s", stream_sid, call_sid)
                continue
            if session is None:
                raise ProtocolError(f"{event} message before start")
            if event == "media":
                if _field(message, "media").get("track", "inbound") in ("inbound", "inbound_track"):
                    try:
                        payload = base64.b64decode(str(_field(message, "media", "payload")), validate=True)
                    except binascii.Error as exc:
                        raise ProtocolError("media payload is not base64") from exc
                    session.audio(mulaw_decode(payload))
            elif event == "dtmf":
                session.digit(str(_field(message, "dtmf", "digit")))
            elif event == "mark":
                session.mark(str(_field(message, "mark", "name")))
            elif event == "stop":
                session.end("hangup")
                return
            else:
                raise ProtocolError(f"unexpected event {event!r}")
    except ProtocolError as exc:
        log.warning("closing media stream of call %s: %s", call_sid or "?", exc)
        with contextlib.suppress(Exception):
            ws.close(reason=1008, message=str(exc)[:120])
        if session is not None:
            session.end("stream-error")
    except ConnectionClosed:
        (log.info if call_sid else log.debug)("media stream of call %s closed", call_sid or "?")  # no flood
    except Exception:
        log.exception("media stream of call %s failed", call_sid or "?")
    finally:
        if unstarted:
            calls.unstarted.release(address)
        if session is not None:
            session.end("connection-lost")  # no-op when the call already ended
