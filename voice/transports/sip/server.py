"""The SIP user agent server: offices' PBXs and SIP trunks call the hotline directly.

One UDP socket and one TCP listener on the same port carry SIP; each call gets its own RTP port. A call
is a ``StreamSession`` (the same engine, endpointing, barge-in and playout as Twilio Media Streams) with
``SipSink`` as its transport: frames become RTP packets, a transfer becomes REFER, a hang-up becomes BYE.

Security: only peers in the allow-list get anything but 403; INVITEs may have to pass digest
authentication; the number of calls and the size of messages are capped; a malformed message is answered
400 (or 488 for an SDP the hotline cannot use) when it can be answered at all, otherwise dropped. No
message can stop the server: every handler runs under a catch-all that logs and answers 500.
"""

from __future__ import annotations

import contextlib
import heapq
import ipaddress
import itertools
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from voice.core.office_hours import is_open
from voice.runtime.runtime import LiveCall
from voice.runtime.services import Services
from voice.runtime.stream.session import StreamSession, stream_settings
from voice.transports.sip.auth import DigestAuth
from voice.transports.sip.message import (
    KNOWN_METHODS,
    SipError,
    SipMessage,
    name_addr_uri,
    new_branch,
    new_tag,
    parse_message,
    response,
    tag_of,
    unsupported_extensions,
    uri_host_port,
    uri_user,
    via_params,
)
from voice.transports.sip.rtp import RtpChannel, open_rtp_socket
from voice.transports.sip.sdp import MediaOffer, SdpError, answer_for, our_offer, parse_offer
from voice.transports.sip.transports import Flow, Transports, tls_context

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY"
SUPPORTED: frozenset[str] = frozenset()  # option tags the hotline implements (a Require of any other: 420)
USER_AGENT = "immigration-hotline"
T1, T2 = 0.5, 4.0


class Timers:
    """One thread running delayed callbacks (answer after ringing, retransmissions, time-outs)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._count = itertools.count()
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="sip-timers", daemon=True)
        self._thread.start()

    def after(self, delay: float, work: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._count), work))
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cond.wait(timeout=None if not self._heap else self._heap[0][0] - time.monotonic())
                if self._stop:
                    return
                _, _, work = heapq.heappop(self._heap)
            try:
                work()
            except Exception:
                log.exception("SIP timer failed")


@dataclass
class SipCall:
    call_id: str
    flow: Flow
    invite: SipMessage
    local_tag: str
    rtp: RtpChannel
    state: str = "early"  # early -> answered -> confirmed -> ended
    offer: MediaOffer | None = None
    session: StreamSession | None = None
    store_call_id: str | None = None
    last_response: bytes = b""
    sdp_version: int = 1
    sdp_id: int = field(default_factory=lambda: int(time.time()))
    local_cseq: int = 1
    transferring: bool = False
    live: LiveCall | None = None  # the runtime's count of this call, released when it is dropped

    @property
    def remote_tag(self) -> str:
        return tag_of(self.invite.get("from"))

    @property
    def key(self) -> tuple[str, str]:
        return dialog_key(self.invite)


def dialog_key(request: SipMessage) -> tuple[str, str]:
    """Calls are told apart by Call-ID and the caller's tag: a Call-ID alone may be reused (RFC 3261 12)."""
    return request.call_id, tag_of(request.get("from"))


class SipSink:
    """A session's output as RTP and SIP (the player's clock thread calls these: never block it)."""

    def __init__(self, server: SipServer, call: SipCall) -> None:
        self.server, self.call = server, call

    def send_frame(self, payload: bytes) -> None:
        self.call.rtp.send_frame(payload)

    def send_mark(self, name: str) -> None:
        if self.call.session is not None:  # the frames before the mark are on the wire
            self.call.session.mark(name)

    def clear(self) -> None:
        pass  # nothing is buffered remotely beyond a few frames

    def transfer(self) -> None:
        self.server.timers.after(0, lambda: self.server.transfer(self.call))

    def hangup(self) -> None:
        self.server.timers.after(0, lambda: self.server.hang_up(self.call, "hangup"))


class SipServer:
    def __init__(self, services: Services, store: Any, executor: ThreadPoolExecutor | None = None,
                 office_open: Callable[[], bool] | None = None) -> None:
        s = services.settings
        self.services, self.store, self.settings = services, store, s
        self.executor = executor or ThreadPoolExecutor(max_workers=8, thread_name_prefix="sip-work")
        self.office_open = office_open or (lambda: is_open(services.phrases.content.office))
        self.networks = s.sip_networks()
        self.auth = DigestAuth(s.sip_username, s.sip_password, s.sip_realm) if s.sip_username else None
        self.rtp_range = s.sip_rtp_range()
        self.calls: dict[tuple[str, str], SipCall] = {}  # by dialog_key()
        self.finished: list[SipCall] = []  # recent calls, for tests and the benchmark
        self.lock = threading.RLock()
        self.timers = Timers()
        self._handlers: dict[str, Callable[[SipMessage, Flow], None]] = {
            "INVITE": self._on_invite, "ACK": self._on_ack, "CANCEL": self._on_cancel, "BYE": self._on_bye,
            "OPTIONS": self._on_options, "INFO": self._on_info, "NOTIFY": self._on_notify,
        }
        self.pending: dict[str, Callable[[SipMessage | None], None]] = {}  # branch -> client transaction
        self.port = s.sip_port
        self.stats = {"received": 0, "rejected": 0, "malformed": 0, "errors": 0}
        self._stop = threading.Event()
        self.transports = Transports(self.receive, s.sip_max_message_bytes, self._stop)
        self.tls_port = 0

    # ---- life cycle -------------------------------------------------------------------------------

    def start(self) -> SipServer:
        from voice.runtime.stream.vad import SileroModel

        SileroModel.shared()  # load the VAD before the first call rings
        s = self.settings
        context = tls_context(s.sip_tls_cert, s.sip_tls_key) if s.sip_tls_port >= 0 and s.sip_tls_cert else None
        self.transports.open(s.sip_host, s.sip_port, s.sip_tls_port, context)
        self.port, self.tls_port = self.transports.port, self.transports.tls_port
        tls = f", TLS on {self.tls_port}" if context is not None else ""
        log.info("SIP: listening on %s:%d (UDP and TCP%s), RTP ports %d-%d", s.sip_host, self.port, tls,
                 *self.rtp_range)
        return self

    def stop(self) -> None:
        self._stop.set()
        for call in list(self.calls.values()):
            self.hang_up(call, "shutdown")
        self.transports.close()
        self.timers.stop()

    def wait(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(1.0)

    # ---- transports --------------------------------------------------------------------------------

    def allowed(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in net for net in self.networks)

    # ---- dispatch ------------------------------------------------------------------------------------

    def receive(self, data: bytes, flow: Flow) -> None:
        """One message from the network; nothing it contains can raise out of here."""
        self.stats["received"] += 1
        try:
            if not self.allowed(flow.addr[0]):
                self.stats["rejected"] += 1
                self._reject_outsider(data, flow)
                return
            try:
                message = parse_message(data, self.settings.sip_max_message_bytes, stream=flow.reliable)
            except SipError as exc:
                self.stats["malformed"] += 1
                log.info("SIP from %s:%d: %s", *flow.addr, exc)
                if exc.status and exc.message is not None and exc.message.method != "ACK":
                    self._send(flow, response(exc.message, exc.status, extra=[("warning", f'399 hotline "{exc}"')]))
                return
            if not message.is_request:
                self._client_response(message)
                return
            self._note_source(message, flow)
            handler = self._handlers.get(message.method)
            if handler is None:
                status = 405 if message.method in KNOWN_METHODS else 501
                self._send(flow, response(message, status, extra=[("allow", ALLOW)]))
                return
            unsupported = unsupported_extensions(message, SUPPORTED) if message.method not in ("ACK", "CANCEL") else []
            if unsupported:
                self._send(flow, response(message, 420, to_tag=new_tag(),
                                          extra=[("unsupported", ", ".join(unsupported))]))
                return
            handler(message, flow)
        except Exception:
            self.stats["errors"] += 1
            log.exception("SIP: handling a message from %s:%d failed", *flow.addr)
            with contextlib.suppress(Exception):
                request = parse_message(data, self.settings.sip_max_message_bytes)
                if request.is_request and request.method != "ACK":
                    self._send(flow, response(request, 500))

    def _reject_outsider(self, data: bytes, flow: Flow) -> None:
        log.warning("SIP: rejected %s:%d (not in HOTLINE_SIP_ALLOW)", *flow.addr)
        with contextlib.suppress(SipError):
            message = parse_message(data, self.settings.sip_max_message_bytes)
            if message.is_request and message.method != "ACK":
                self._send(flow, response(message, 403, to_tag=new_tag()))

    @staticmethod
    def _note_source(message: SipMessage, flow: Flow) -> None:
        """RFC 3581: record where the request really came from in its top Via."""
        vias = [i for i, (k, _) in enumerate(message.headers) if k == "via"]
        if not vias:
            return
        i = vias[0]
        via = message.headers[i][1]
        params = via_params(via)
        parts = via.split()
        sent_by = parts[1].split(";")[0].rsplit(":", 1)[0] if len(parts) > 1 else ""
        if "rport" in params:
            via = re.sub(r";\s*rport(=\d*)?(?=;|$)", "", via) + f";rport={flow.addr[1]}"
        if "rport" in params or sent_by != flow.addr[0]:
            via += f";received={flow.addr[0]}"
        message.headers[i] = ("via", via)

    def _send(self, flow: Flow, message: SipMessage) -> bytes:
        message.set("server" if not message.is_request else "user-agent", USER_AGENT)
        data = message.encode()
        try:
            flow.send(data)
        except OSError as exc:
            log.info("SIP: cannot send to %s:%d: %s", *flow.addr, exc)
        return data

    def _local_address(self, flow: Flow) -> str:
        if self.settings.sip_public_address:
            return self.settings.sip_public_address
        if self.settings.sip_host not in ("0.0.0.0", ""):
            return self.settings.sip_host
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.connect(flow.addr)
            return str(probe.getsockname()[0])
        finally:
            probe.close()

    def _contact(self, flow: Flow) -> str:
        if flow.transport == "TLS":  # RFC 5630: sips where the whole path is secured
            return f"<sips:hotline@{self._local_address(flow)}:{flow.port or self.tls_port}>"
        transport = ";transport=tcp" if flow.transport == "TCP" else ""
        return f"<sip:hotline@{self._local_address(flow)}:{self.port}{transport}>"

    def _call_for(self, message: SipMessage) -> SipCall | None:
        with self.lock:
            call = self.calls.get(dialog_key(message))
        if call is None:
            return None
        to_tag = tag_of(message.get("to"))
        if to_tag and to_tag != call.local_tag:
            return None
        return call

    # ---- INVITE ----------------------------------------------------------------------------------------

    def _on_invite(self, request: SipMessage, flow: Flow) -> None:
        existing = self._call_for(request)
        with self.lock:
            late = any(c.key == dialog_key(request) and c.invite.branch == request.branch for c in self.finished)
        if existing is None and late:
            log.info("SIP: a late copy of the INVITE of ended call %s ignored", request.call_id)
            return
        if existing is not None and request.branch == existing.invite.branch:
            if existing.last_response:
                with contextlib.suppress(OSError):
                    flow.send(existing.last_response)  # a retransmission of the INVITE
            return
        if tag_of(request.get("to")):
            if existing is None:
                self._send(flow, response(request, 481))
            else:
                self._reinvite(existing, request, flow)
            return
        if existing is not None:  # a second INVITE for a dialog that is being set up or is live
            merged = request.cseq == existing.invite.cseq  # the same request by another path (section 8.2.2.2)
            self._send(flow, response(request, 482 if merged else 400, to_tag=new_tag(),
                                      extra=[] if merged else [("warning", '399 hotline "dialog exists"')]))
            return
        if self.auth is not None:
            verdict = self.auth.check("INVITE", request.get("authorization") or request.get("proxy-authorization"))
            if verdict != "ok":
                self._send(flow, response(request, 401, to_tag=new_tag(),
                                          extra=[("www-authenticate", self.auth.challenge(verdict == "stale"))]))
                return
        with self.lock:
            busy = len([c for c in self.calls.values() if c.state != "ended"]) >= self.settings.sip_max_calls
        if busy:
            self._send(flow, response(request, 486, to_tag=new_tag(), extra=[("retry-after", "30")]))
            return
        offer = None
        if request.body:
            if request.get("content-type", "application/sdp").split(";")[0].strip().lower() != "application/sdp":
                self._send(flow, response(request, 415, to_tag=new_tag(), extra=[("accept", "application/sdp")]))
                return
            try:
                offer = parse_offer(request.body)
            except SdpError as exc:
                log.info("SIP: SDP of %s rejected: %s", request.call_id, exc)
                self._send(flow, response(request, exc.status, to_tag=new_tag(),
                                          extra=[("warning", f'304 hotline "{exc}"')]))
                return
        admission, live = self.services.runtime.admit("sip")
        if live is None:  # overloaded: 503 lets a proxy try another node (RFC 3261 section 21.5.4)
            self._refused(request, admission.reason)
            self._send(flow, response(request, 503, to_tag=new_tag(), extra=[("retry-after", "30")]))
            return
        flow.local = self._local_address(flow)
        try:
            sock = open_rtp_socket("0.0.0.0" if self.settings.sip_host in ("0.0.0.0", "") else self.settings.sip_host,
                                   *self.rtp_range)
        except BaseException:
            live.release()
            raise
        call = SipCall(request.call_id, flow, request, new_tag(), None)  # type: ignore[arg-type]
        call.live = live
        call.rtp = RtpChannel(sock, self._audio_to(call), self._digit_to(call), self.allowed)
        call.offer = offer
        if offer is not None:
            call.rtp.configure(offer.address, offer.port, offer.payload_type, offer.codec, offer.event_pt,
                               sending=not offer.on_hold)
        with self.lock:
            self.calls[call.key] = call
        self._send(flow, response(request, 100))
        call.last_response = self._send(flow, response(request, 180, to_tag=call.local_tag,
                                                       extra=[("contact", self._contact(flow))]))
        log.info("SIP: call %s from %s:%d over %s", call.call_id, *flow.addr, flow.transport)
        self.timers.after(self.settings.sip_ring_ms / 1000.0, lambda: self._answer(call))

    def _audio_to(self, call: SipCall) -> Callable[[Any], None]:
        def feed(samples: Any) -> None:
            if call.session is not None and call.state in ("answered", "confirmed"):
                call.session.audio(samples)
        return feed

    def _digit_to(self, call: SipCall) -> Callable[[str], None]:
        def press(key: str) -> None:
            if call.session is not None and call.state in ("answered", "confirmed"):
                log.info("SIP: call %s pressed %s", call.call_id, key)
                call.session.digit(key)
        return press

    def _sdp(self, call: SipCall) -> bytes:
        if call.offer is None:
            return our_offer(call.flow.local, call.rtp.port, call.sdp_id, call.sdp_version)
        return answer_for(call.offer, call.flow.local, call.rtp.port, call.sdp_id, call.sdp_version)

    def _answer(self, call: SipCall) -> None:
        if call.state != "early":
            return
        from voice.runtime.stream.vad import SileroModel

        caller = uri_user(name_addr_uri(call.invite.get("p-asserted-identity") or call.invite.get("from")))
        try:
            if self.store is not None:
                call.store_call_id = self.store.start_call("sip", call.call_id, caller or None)
            call.session = StreamSession(
                self.services, SipSink(self, call), SileroModel.shared().detector(8000), self.executor,
                call.call_id, store=self.store, store_call_id=call.store_call_id,
                settings=stream_settings(self.services), on_finished=lambda _s: self._finished(call),
            )
            office_open = self.office_open()
        except Exception:
            log.exception("SIP: cannot start call %s", call.call_id)
            call.last_response = self._send(call.flow, response(call.invite, 500, to_tag=call.local_tag))
            self._drop(call)
            return
        call.state = "answered"
        ok = response(call.invite, 200, to_tag=call.local_tag, body=self._sdp(call),
                      extra=[("contact", self._contact(call.flow)), ("allow", ALLOW),
                             ("content-type", "application/sdp")])
        call.last_response = self._send(call.flow, ok)
        call.rtp.start()
        call.session.start(office_open=office_open)
        if not call.flow.reliable:
            self._retransmit_ok(call, T1, time.monotonic())

    def _retransmit_ok(self, call: SipCall, interval: float, started: float) -> None:
        def again() -> None:
            if call.state != "answered":
                return
            if time.monotonic() - started > 64 * T1:
                log.warning("SIP: no ACK for call %s; ending it", call.call_id)
                self.hang_up(call, "no-ack")
                return
            with contextlib.suppress(OSError):
                call.flow.send(call.last_response)
            self._retransmit_ok(call, min(interval * 2, T2), started)
        self.timers.after(interval, again)

    def _reinvite(self, call: SipCall, request: SipMessage, flow: Flow) -> None:
        """Hold, unhold or a media change: answer with the stream's current state."""
        if request.body:
            try:
                offer = parse_offer(request.body)
            except SdpError as exc:
                self._send(flow, response(request, exc.status, extra=[("warning", f'304 hotline "{exc}"')]))
                return
            call.offer = offer
            call.rtp.configure(offer.address, offer.port, offer.payload_type, offer.codec, offer.event_pt,
                               sending=not offer.on_hold)
            log.info("SIP: call %s %s", call.call_id, "on hold" if offer.on_hold else "media updated")
        call.sdp_version += 1
        call.invite = _with_branch(call.invite, request)
        self._send(flow, response(request, 200, to_tag=call.local_tag, body=self._sdp(call),
                                  extra=[("contact", self._contact(flow)), ("content-type", "application/sdp")]))

    def _on_ack(self, request: SipMessage, flow: Flow) -> None:
        call = self._call_for(request)
        if call is None:
            return
        if call.state == "answered":
            call.state = "confirmed"
        if request.body and call.offer is None:  # the answer to our late offer
            with contextlib.suppress(SdpError):
                offer = parse_offer(request.body)
                call.offer = offer
                call.rtp.configure(offer.address, offer.port, offer.payload_type, offer.codec, offer.event_pt)

    def _on_cancel(self, request: SipMessage, flow: Flow) -> None:
        with self.lock:
            call = self.calls.get(dialog_key(request))
        if call is None or call.invite.branch != request.branch:
            self._send(flow, response(request, 481))
            return
        self._send(flow, response(request, 200, to_tag=call.local_tag))
        if call.state == "early":
            call.state = "ended"
            call.last_response = self._send(flow, response(call.invite, 487, to_tag=call.local_tag))
            log.info("SIP: call %s cancelled before answer", call.call_id)
            self._drop(call)

    def _on_bye(self, request: SipMessage, flow: Flow) -> None:
        call = self._call_for(request)
        if call is None:
            self._send(flow, response(request, 481))
            return
        self._send(flow, response(request, 200))
        log.info("SIP: call %s: the caller hung up", call.call_id)
        self._end(call, "hangup")

    def _on_options(self, request: SipMessage, flow: Flow) -> None:
        self._send(flow, response(request, 200, to_tag="" if tag_of(request.get("to")) else new_tag(),
                                  extra=[("allow", ALLOW), ("accept", "application/sdp")]))

    def _on_info(self, request: SipMessage, flow: Flow) -> None:
        call = self._call_for(request)
        if call is None:
            self._send(flow, response(request, 481))
            return
        kind = request.get("content-type").split(";")[0].strip().lower()
        text = request.body.decode("utf-8", "replace")
        key = ""
        if kind == "application/dtmf-relay":
            match = re.search(r"^\s*signal\s*=\s*(\S)", text, re.I | re.M)
            key = match.group(1) if match else ""
        elif kind == "application/dtmf":
            key = text.strip()[:1]
        if key and key in "0123456789*#ABCD":
            self._send(flow, response(request, 200))
            self._digit_to(call)(key)
        else:
            self._send(flow, response(request, 415 if kind not in ("application/dtmf-relay", "application/dtmf", "")
                                      else 200, extra=[("accept", "application/dtmf-relay, application/dtmf")]))

    def _on_notify(self, request: SipMessage, flow: Flow) -> None:
        call = self._call_for(request)
        if call is None:
            self._send(flow, response(request, 481))
            return
        self._send(flow, response(request, 200))
        match = re.match(rb"SIP/2\.0 (\d{3})", request.body.strip())
        if call.transferring and match and int(match.group(1)) >= 200:
            log.info("SIP: call %s: transfer finished with %s", call.call_id, match.group(1).decode())
            self.hang_up(call, "transferred")

    # ---- requests from the hotline ------------------------------------------------------------------------

    def _request(self, call: SipCall, method: str, extra: list[tuple[str, str]] | None = None,
                 on_response: Callable[[SipMessage | None], None] = lambda _r: None) -> None:
        invite = call.invite
        target = name_addr_uri(invite.get("contact")) if invite.get("contact") else name_addr_uri(invite.get("from"))
        branch = new_branch()
        call.local_cseq += 1
        transport, port = call.flow.transport, call.flow.port or self.port
        to = invite.get("to")
        headers = [
            ("via", f"SIP/2.0/{transport} {call.flow.local or self._local_address(call.flow)}:{port};"
                    f"branch={branch};rport"),
            ("max-forwards", "70"),
            ("from", to if tag_of(to) else f"{to};tag={call.local_tag}"),
            ("to", invite.get("from")),
            ("call-id", call.call_id),
            ("cseq", f"{call.local_cseq} {method}"),
        ]
        headers += [("route", r) for r in invite.get_all("record-route")]
        headers += [("contact", self._contact(call.flow))] + (extra or [])
        request = SipMessage(method=method, uri=target, headers=headers)
        done = threading.Event()

        def finish(reply: SipMessage | None) -> None:
            if reply is not None and reply.status < 200:
                return
            with self.lock:
                self.pending.pop(branch, None)
            if not done.is_set():
                done.set()
                on_response(reply)

        with self.lock:
            self.pending[branch] = finish
        data = self._send(call.flow, request)
        started = time.monotonic()

        def again(interval: float) -> None:
            if done.is_set():
                return
            if time.monotonic() - started >= 64 * T1 or call.flow.reliable:
                finish(None)
                return
            with contextlib.suppress(OSError):
                call.flow.send(data)
            self.timers.after(min(interval * 2, T2), lambda: again(min(interval * 2, T2)))

        self.timers.after(64 * T1 if call.flow.reliable else T1, lambda: again(T1))

    def _client_response(self, reply: SipMessage) -> None:
        with self.lock:
            handler = self.pending.get(reply.branch)
        if handler is not None:
            handler(reply)

    def hang_up(self, call: SipCall, reason: str) -> None:
        """The hotline ends the call: BYE (or a final error while it still rings)."""
        if call.state == "ended":
            return
        if call.state == "early":
            call.state = "ended"
            self._send(call.flow, response(call.invite, 480, to_tag=call.local_tag))
        else:
            self._request(call, "BYE")
        self._end(call, reason)

    def transfer(self, call: SipCall) -> None:
        """Blind transfer by REFER; a refusal (or no configured target) ends the call with BYE."""
        target = self.transfer_target(call)
        if call.state not in ("answered", "confirmed") or not target:
            self.hang_up(call, "hangup")
            return
        call.transferring = True
        referred_by = name_addr_uri(call.invite.get("to"))

        def outcome(reply: SipMessage | None) -> None:
            if reply is None or reply.status >= 300:
                log.warning("SIP: call %s: REFER refused (%s); hanging up", call.call_id,
                            reply.status if reply else "no answer")
                self.hang_up(call, "transfer-failed")
            else:  # accepted: the NOTIFY with the result ends our leg, or this time-out does
                self.timers.after(10.0, lambda: self.hang_up(call, "transferred"))

        log.info("SIP: call %s: transfer to %s", call.call_id, target)
        self._request(call, "REFER", [("refer-to", f"<{target}>"), ("referred-by", f"<{referred_by}>")], outcome)

    def transfer_target(self, call: SipCall) -> str:
        if self.settings.sip_transfer_uri:
            return self.settings.sip_transfer_uri
        number = re.sub(r"[^\d+]", "", str(self.services.phrases.content.office.get("transfer_number", "") or ""))
        if not number:
            return ""
        host, port = uri_host_port(name_addr_uri(call.invite.get("contact") or call.invite.get("from")))
        return f"sip:{number}@{host}:{port}"

    # ---- the end ----------------------------------------------------------------------------------------------

    def _end(self, call: SipCall, reason: str) -> None:
        call.state = "ended"
        if call.session is not None:
            call.session.end(reason)
        else:
            self._drop(call)

    def _finished(self, call: SipCall) -> None:
        if call.state != "ended":
            self.hang_up(call, "hangup")
        self._drop(call)

    def _refused(self, request: SipMessage, reason: str) -> None:
        """A refused call is stored (ended "busy") so that the dashboard counts it per day."""
        if self.store is None:
            return
        caller = uri_user(name_addr_uri(request.get("p-asserted-identity") or request.get("from")))
        try:
            self.store.refuse_call("sip", caller or None)
        except Exception:
            log.exception("SIP: could not store a refused call (%s)", reason)

    def _drop(self, call: SipCall) -> None:
        call.state = "ended"
        if call.live is not None:
            call.live.release()
        call.rtp.close()
        with self.lock:
            if self.calls.get(call.key) is call:
                del self.calls[call.key]
                self.finished = [*self.finished[-63:], call]


def _with_branch(invite: SipMessage, reinvite: SipMessage) -> SipMessage:
    """The dialog's INVITE with the latest re-INVITE's Contact (the remote target may move)."""
    if reinvite.get("contact"):
        invite = SipMessage(invite.method, invite.uri, invite.status, invite.reason, list(invite.headers), invite.body)
        invite.set("contact", reinvite.get("contact"))
    return invite
