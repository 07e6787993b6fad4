"""The SIP server: sockets, timers and media around the sans-IO user agent.

Offices' PBXs and SIP trunks call the hotline directly. One UDP socket and one TCP listener on the same
port (and TLS where configured) carry SIP; each call gets its own RTP port. Every protocol decision is
made by ``UserAgent`` (``voice.transports.sip.agent``); this module only moves bytes, fires the agent's
timers from one clock thread, asks the runtime to admit calls, and runs each call as a ``StreamSession``
(the same engine, endpointing, barge-in and playout as Twilio Media Streams) with ``SipSink`` as its
output: frames become RTP packets, a transfer becomes REFER, a hang-up becomes BYE.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from voice.core.office_hours import is_open
from voice.core.transfer import dial_digits, transfer_number
from voice.runtime.call_record import CallRecord
from voice.runtime.services import Services
from voice.runtime.stream.session import StreamSession, stream_settings
from voice.transports.sip.agent import UserAgent
from voice.transports.sip.auth import DigestAuth
from voice.transports.sip.call import SipCall, SipSink
from voice.transports.sip.dialog import Dialog
from voice.transports.sip.events import AnswerDue, CallEnded, Event, IncomingCall, KeyPressed, MediaChanged, Send
from voice.transports.sip.message import (
    SipMessage,
    context_headers,
    name_addr_uri,
    uri_host_port,
    uri_user,
    with_headers,
)
from voice.transports.sip.rtp import RtpChannel, open_rtp_socket
from voice.transports.sip.sdp import MediaOffer
from voice.transports.sip.srtp import SrtpContext
from voice.transports.sip.transports import Flow, Transports, tls_context
from voice.transports.sip.uas import AgentConfig

log = logging.getLogger(__name__)


class SipServer:
    def __init__(self, services: Services, store: Any, executor: ThreadPoolExecutor | None = None,
                 office_open: Callable[[], bool] | None = None) -> None:
        s = services.settings
        self.services, self.store, self.settings = services, store, s
        self.executor = executor or ThreadPoolExecutor(max_workers=8, thread_name_prefix="sip-work")
        self.office_open = office_open or (lambda: is_open(services.phrases.content.office))
        auth = DigestAuth(s.sip_username, s.sip_password, s.sip_realm) if s.sip_username else None
        self.agent = UserAgent(AgentConfig(s.sip_networks(), s.sip_max_message_bytes, s.sip_max_calls,
                                           s.sip_ring_ms / 1000.0, s.sip_port, auth=auth, srtp=s.sip_srtp))
        self.rtp_range = s.sip_rtp_range()
        self.calls: dict[tuple[str, str], SipCall] = {}  # by dialog key
        self.finished: list[SipCall] = []  # recent calls, for tests and the benchmark
        self.lock = threading.Condition(threading.RLock())  # guards the agent and the call table
        self._posted: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._clock = threading.Thread(target=self._run_clock, name="sip-clock", daemon=True)
        self.transports = Transports(self.receive, s.sip_max_message_bytes, self._stop)
        self.port, self.tls_port = s.sip_port, 0

    @property
    def stats(self) -> dict[str, int]:
        return self.agent.stats

    # ---- life cycle -------------------------------------------------------------------------------

    def start(self) -> SipServer:
        from voice.runtime.stream.vad import SileroModel

        SileroModel.shared()  # load the VAD before the first call rings
        s = self.settings
        context = tls_context(s.sip_tls_cert, s.sip_tls_key) if s.sip_tls_port >= 0 and s.sip_tls_cert else None
        self.transports.open(s.sip_host, s.sip_port, s.sip_tls_port, context)
        self.port, self.tls_port = self.transports.port, self.transports.tls_port
        self.agent.config.port, self.agent.config.tls_port = self.port, self.tls_port
        self._clock.start()
        tls = f", TLS on {self.tls_port}" if context is not None else ""
        log.info("SIP: listening on %s:%d (UDP and TCP%s), RTP ports %d-%d", s.sip_host, self.port, tls,
                 *self.rtp_range)
        return self

    def stop(self) -> None:
        for call in list(self.calls.values()):
            self.hang_up(call, "shutdown")
        self._stop.set()
        self.transports.close()
        with self.lock:
            self.lock.notify()

    def wait(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(1.0)

    # ---- the agent: every call into it under the lock, its events acted on outside ----------------------

    def receive(self, data: bytes, flow: Flow) -> None:
        """One message from the network (any transport thread)."""
        flow.local = flow.local or self._local_address(flow)
        self._step(lambda agent: agent.receive(data, flow, time.monotonic()))

    def post(self, work: Callable[[], None]) -> None:
        """Run ``work`` on the clock thread (for callers that must not block, like the player)."""
        with self.lock:
            self._posted.append(work)
            self.lock.notify()

    def hang_up(self, call: SipCall, reason: str) -> None:
        self._step(lambda agent: agent.hang_up(call.dialog, reason, time.monotonic()))

    def transfer(self, call: SipCall) -> None:
        target = self.transfer_target(call)
        self._step(lambda agent: agent.transfer(call.dialog, target, time.monotonic()))

    def transfer_target(self, call: SipCall) -> str:
        """Where REFER sends the caller: staff for the caller's language (or the general number), with the
        call's context as URI headers (language, topic, the dashboard page) for the PBX to pass on."""
        wanted = call.session.transfer_to if call.session is not None else None
        language = (wanted.language if wanted else "") or (call.session.driver.state.language if call.session else "")
        base = self.settings.public_base_url.rstrip("/")
        link = f"{base}/dashboard/calls/{call.record.id}" if base and call.record.id else ""
        headers = context_headers(language, wanted.topic if wanted else None, link) if language else []
        if self.settings.sip_transfer_uri:
            return with_headers(self.settings.sip_transfer_uri, headers)
        number = dial_digits(transfer_number(self.services.phrases.content.office, language))
        if not number:
            return ""
        host, port = uri_host_port(name_addr_uri(call.invite.get("contact") or call.invite.get("from")))
        return with_headers(f"sip:{number}@{host}:{port}", headers)

    def _step(self, step: Callable[[UserAgent], list[Event]]) -> None:
        with self.lock:
            events = step(self.agent)
            self.lock.notify()  # a timer may have been set
        for event in events:
            try:
                self._act(event)
            except Exception:
                log.exception("SIP: acting on %s failed", type(event).__name__)

    def _run_clock(self) -> None:
        while True:
            with self.lock:
                while not self._stop.is_set() and not self._posted:
                    deadline = self.agent.next_deadline()
                    wait = None if deadline is None else deadline - time.monotonic()
                    if wait is not None and wait <= 0:
                        break
                    self.lock.wait(wait)
                if self._stop.is_set():
                    return
                work, self._posted = self._posted, []
            for job in work:
                try:
                    job()
                except Exception:
                    log.exception("SIP: posted work failed")
            self._step(lambda agent: agent.tick(time.monotonic()))

    # ---- events ---------------------------------------------------------------------------------------

    def _act(self, event: Event) -> None:
        if isinstance(event, Send):
            try:
                event.flow.send(event.data)
            except OSError as exc:
                log.info("SIP: cannot send to %s:%d: %s", *event.flow.addr, exc)
            return
        if isinstance(event, IncomingCall):
            self._admit(event.dialog)
            return
        call = self.calls.get(event.dialog.key)
        if call is None or call.dialog is not event.dialog:
            return
        if isinstance(event, AnswerDue):
            self._answer(call)
        elif isinstance(event, MediaChanged):
            self._configure(call, event.offer)
        elif isinstance(event, KeyPressed):
            if call.session is not None:
                call.session.digit(event.key)
        elif isinstance(event, CallEnded):
            if call.session is not None:
                call.session.end(event.reason)
            else:
                self._drop(call)

    def _admit(self, d: Dialog) -> None:
        admission, live = self.services.runtime.admit("sip")
        if live is None:  # overloaded: 503 lets a proxy try another node (RFC 3261 section 21.5.4)
            self._refused(d.invite, admission.reason)
            self._step(lambda agent: agent.refuse(d, 503, [("retry-after", "30")]))
            return
        host = "0.0.0.0" if self.settings.sip_host in ("0.0.0.0", "") else self.settings.sip_host
        try:
            sock = open_rtp_socket(host, *self.rtp_range)
        except OSError as exc:
            live.release()
            log.warning("SIP: no RTP port for call %s: %s", d.call_id, exc)
            self._step(lambda agent: agent.refuse(d, 503, [("retry-after", "5")]))
            return
        call = SipCall(d, live)
        call.rtp = RtpChannel(sock, self._audio_to(call), self._digit_to(call), self.agent.allowed)
        if d.offer is not None:
            self._configure(call, d.offer)
        with self.lock:
            self.calls[d.key] = call
        self._step(lambda agent: agent.ring(d, call.rtp.port, time.monotonic()))

    def _audio_to(self, call: SipCall) -> Callable[[Any], None]:
        def feed(samples: Any) -> None:
            if call.session is not None and call.state.talking:
                call.session.audio(samples)
        return feed

    def _digit_to(self, call: SipCall) -> Callable[[str], None]:
        def press(key: str) -> None:
            if call.session is not None and call.state.talking:
                log.info("SIP: call %s pressed %s", call.call_id, key)
                call.session.digit(key)
        return press

    @staticmethod
    def _configure(call: SipCall, offer: MediaOffer) -> None:
        srtp = None
        if offer.crypto is not None:  # encrypted media: keep our stream's context, follow the far end's key
            current = call.rtp.srtp
            srtp = (current.with_remote(offer.crypto.suite, offer.crypto.key) if current is not None else
                    SrtpContext(offer.crypto.suite, offer.crypto.key, call.dialog.srtp_key))
        call.rtp.configure(offer.address, offer.port, offer.payload_type, offer.codec, offer.event_pt,
                           sending=not offer.on_hold, srtp=srtp)

    def _answer(self, call: SipCall) -> None:
        from voice.runtime.stream.vad import SileroModel

        d = call.dialog
        caller = uri_user(name_addr_uri(d.invite.get("p-asserted-identity") or d.invite.get("from")))
        trusted = caller if self.settings.sip_trusted_pbx else None  # only a PBX we trust asserts the number
        try:
            call.record = CallRecord.open(self.store, "sip", call.call_id, caller or None)
            call.session = StreamSession(
                self.services, SipSink(self, call), SileroModel.shared().detector(8000), self.executor,
                call.call_id, record=call.record,
                settings=stream_settings(self.services), on_finished=lambda _s: self._finished(call),
                caller_number=trusted or None,
            )
            office_open = self.office_open()
        except Exception:
            log.exception("SIP: cannot start call %s", call.call_id)
            call.session = None
            self._step(lambda agent: agent.fail(d))
            self._drop(call)
            return
        self._step(lambda agent: agent.answer(d, time.monotonic()))
        if not d.state.talking:  # cancelled while the session was made: it never starts
            call.session = None
            call.record.end(d.end_reason or "cancelled")
            self._drop(call)
            return
        call.rtp.start()
        call.session.start(office_open=office_open)

    # ---- the end ----------------------------------------------------------------------------------------------

    def _finished(self, call: SipCall) -> None:
        """The session is over (its call thread): end the dialog if the hotline hung up, free the call."""
        self.hang_up(call, "hangup")
        self._drop(call)

    def _refused(self, request: SipMessage, reason: str) -> None:
        """A refused call is stored (ended "busy") so that the dashboard counts it per day."""
        caller = uri_user(name_addr_uri(request.get("p-asserted-identity") or request.get("from")))
        CallRecord.refused(self.store, "sip", caller or None, reason)

    def _drop(self, call: SipCall) -> None:
        call.live.release()
        call.rtp.close()
        with self.lock:
            if self.calls.get(call.dialog.key) is call:
                del self.calls[call.dialog.key]
                self.finished = [*self.finished[-63:], call]

    def _local_address(self, flow: Flow) -> str:
        if self.settings.sip_public_address:
            return self.settings.sip_public_address
        if self.settings.sip_host not in ("0.0.0.0", ""):
            return self.settings.sip_host
        return _source_address(flow.addr[0])


@functools.lru_cache(maxsize=256)
def _source_address(peer: str) -> str:
    """Our address on the route to ``peer`` (asked of the kernel once per peer: every message needs it)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect((peer, 9))
        return str(probe.getsockname()[0])
    finally:
        probe.close()
