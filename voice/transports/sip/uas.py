"""The answering side of the hotline's SIP user agent: requests in, responses and call events out (no I/O).

``Uas`` holds the live dialogs and answers every request a PBX or trunk sends (RFC 3261 sections 8.2,
12-15, RFC 3265 NOTIFY, RFC 6086 INFO); ``UserAgent`` (``agent.py``) adds timers, the hotline's own
requests and the transport's decisions on top.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from voice.transports.sip.auth import DigestAuth
from voice.transports.sip.dialog import CallState, Dialog, dialog_key
from voice.transports.sip.events import CallEnded, Event, IncomingCall, KeyPressed, MediaChanged, Send
from voice.transports.sip.message import SipMessage, new_tag, response, tag_of
from voice.transports.sip.requests import dtmf_key, notify_final_status
from voice.transports.sip.sdp import SdpError, new_key, parse_offer

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY"
METHODS = frozenset(ALLOW.split(", "))
SUPPORTED: frozenset[str] = frozenset()  # option tags the hotline implements (a Require of any other: 420)
USER_AGENT = "immigration-hotline"
RECENT_DIALOGS = 256  # ended dialogs remembered to answer late INVITE copies


@dataclass
class AgentConfig:
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
    max_message_bytes: int = 16384
    max_calls: int = 20
    ring_s: float = 0.5
    port: int = 0  # our SIP port for UDP and TCP, set once the sockets are open
    tls_port: int = 0
    auth: DigestAuth | None = None
    srtp: str = "optional"  # SRTP policy (``sdp.SRTP_POLICIES``)


@dataclass
class Uas:
    config: AgentConfig
    dialogs: dict[tuple[str, str], Dialog] = field(default_factory=dict)  # live ones, by dialog_key()
    stats: dict[str, int] = field(default_factory=lambda: {"received": 0, "rejected": 0, "malformed": 0,
                                                           "errors": 0})
    now: float = 0.0
    _out: list[Event] = field(default_factory=list)
    _recent: OrderedDict[tuple[tuple[str, str], str], bytes] = field(default_factory=OrderedDict)

    def _hang_up(self, d: Dialog, reason: str) -> None:
        """End the call from our side (BYE or 480); the user agent sends it."""
        raise NotImplementedError

    def allowed(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in net for net in self.config.networks)

    def _dialog_for(self, message: SipMessage) -> Dialog | None:
        d = self.dialogs.get(dialog_key(message))
        return d if d is not None and d.matches(message) else None

    def contact(self, flow: Any, request: SipMessage | None = None) -> str:
        if flow.transport == "TLS":  # RFC 3261 12.1.1, RFC 5630: sips only where the caller asked for sips
            port = flow.port or self.config.tls_port
            if _secure_target(request):
                return f"<sips:hotline@{flow.local}:{port}>"
            return f"<sip:hotline@{flow.local}:{port};transport=tls>"
        transport = ";transport=tcp" if flow.transport == "TCP" else ""
        return f"<sip:hotline@{flow.local}:{self.config.port}{transport}>"

    # ---- requests to the hotline ----------------------------------------------------------------------

    def _on_invite(self, request: SipMessage, flow: Any) -> None:
        existing = self._dialog_for(request)
        late = self._recent.get((dialog_key(request), request.branch))
        if existing is None and late is not None:
            if late:  # a retransmission of a refused INVITE: the same final answer (section 17.2.1)
                self._out.append(Send(flow, late))
            return
        if existing is not None and request.branch == existing.invite.branch:
            if existing.last_response:  # a retransmission of the INVITE
                self._out.append(Send(flow, existing.last_response))
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
        refusal = self._check_new_call(request)
        if refusal is not None:
            self._send(flow, refusal)
            return
        srtp = self.config.srtp
        offer = parse_offer(request.body, srtp=srtp) if request.body else None
        encrypted = offer.crypto is not None if offer is not None else srtp == "required"
        d = Dialog(flow, request, new_tag(), self.contact(flow, request), offer, sdp_id=secrets.randbelow(2**31),
                   srtp_key=new_key() if encrypted else "")
        self.dialogs[d.key] = d
        self._out.append(IncomingCall(d))

    def _check_new_call(self, request: SipMessage) -> SipMessage | None:
        """The answer refusing a new INVITE (authentication, capacity, body), or None when it may go on."""
        auth = self.config.auth
        if auth is not None:
            verdict = auth.check("INVITE", request.get("authorization") or request.get("proxy-authorization"))
            if verdict != "ok":
                return response(request, 401, to_tag=new_tag(),
                                extra=[("www-authenticate", auth.challenge(verdict == "stale"))])
        if len(self.dialogs) >= self.config.max_calls:  # ended dialogs are removed at once
            return response(request, 486, to_tag=new_tag(), extra=[("retry-after", "30")])
        if request.body:
            if request.get("content-type", "application/sdp").split(";")[0].strip().lower() != "application/sdp":
                return response(request, 415, to_tag=new_tag(), extra=[("accept", "application/sdp")])
            try:
                parse_offer(request.body, srtp=self.config.srtp)
            except SdpError as exc:
                log.info("SIP: SDP of %s rejected: %s", request.call_id, exc)
                return response(request, exc.status, to_tag=new_tag(), extra=[("warning", f'304 hotline "{exc}"')])
        return None

    def _reinvite(self, d: Dialog, request: SipMessage, flow: Any) -> None:
        """Hold, unhold or a media change: answer with the stream's current state."""
        if request.body:
            try:
                offer = parse_offer(request.body, srtp=self.config.srtp)
            except SdpError as exc:
                self._send(flow, response(request, exc.status, extra=[("warning", f'304 hotline "{exc}"')]))
                return
            if offer.crypto is not None and not d.srtp_key:
                d.srtp_key = new_key()
            d.offer = offer
            self._out.append(MediaChanged(d, offer))
            log.info("SIP: call %s %s", d.call_id, "on hold" if offer.on_hold else "media updated")
        d.sdp_version += 1
        d.retarget(request)
        self._send(flow, response(request, 200, to_tag=d.local_tag, body=d.sdp(d.flow.local),
                                  extra=[("contact", self.contact(flow, d.invite)),
                                         ("content-type", "application/sdp")]))

    def _on_ack(self, request: SipMessage, flow: Any) -> None:
        d = self._dialog_for(request)
        if d is None:
            return
        if d.state is CallState.ANSWERED:
            d.state = CallState.CONFIRMED
            if d.answer_tx is not None:
                d.answer_tx.on_ack()
        if request.body and d.offer is None:  # the answer to our late offer
            with contextlib.suppress(SdpError):
                d.offer = parse_offer(request.body, srtp=self.config.srtp)
                self._out.append(MediaChanged(d, d.offer))

    def _on_cancel(self, request: SipMessage, flow: Any) -> None:
        d = self.dialogs.get(dialog_key(request))
        if d is None or d.invite.branch != request.branch:
            self._send(flow, response(request, 481))
            return
        self._send(flow, response(request, 200, to_tag=d.local_tag))
        if d.state.early:
            d.last_response = self._send(flow, response(d.invite, 487, to_tag=d.local_tag))
            log.info("SIP: call %s cancelled before answer", d.call_id)
            self._end(d, "cancelled")

    def _on_bye(self, request: SipMessage, flow: Any) -> None:
        d = self._dialog_for(request)
        if d is None:
            self._send(flow, response(request, 481))
            return
        self._send(flow, response(request, 200))
        log.info("SIP: call %s: the caller hung up", d.call_id)
        self._end(d, "hangup")

    def _on_options(self, request: SipMessage, flow: Any) -> None:
        self._send(flow, response(request, 200, to_tag="" if tag_of(request.get("to")) else new_tag(),
                                  extra=[("allow", ALLOW), ("accept", "application/sdp")]))

    def _on_info(self, request: SipMessage, flow: Any) -> None:
        d = self._dialog_for(request)
        if d is None:
            self._send(flow, response(request, 481))
            return
        key, status = dtmf_key(request)
        extra = [] if status == 200 and key else [("accept", "application/dtmf-relay, application/dtmf")]
        self._send(flow, response(request, status, extra=extra))
        if key and d.state.talking:
            log.info("SIP: call %s pressed %s", d.call_id, key)
            self._out.append(KeyPressed(d, key))

    def _on_notify(self, request: SipMessage, flow: Any) -> None:
        d = self._dialog_for(request)
        if d is None:
            self._send(flow, response(request, 481))
            return
        self._send(flow, response(request, 200))
        status = notify_final_status(request)
        if d.transferring and status:
            log.info("SIP: call %s: transfer finished with %d", d.call_id, status)
            self._hang_up(d, "transferred")

    # ---- output and the end ----------------------------------------------------------------------------

    def _send(self, flow: Any, message: SipMessage) -> bytes:
        message.set("server" if not message.is_request else "user-agent", USER_AGENT)
        data = message.encode()
        self._out.append(Send(flow, data))
        return data

    def _flush(self) -> list[Event]:
        out, self._out = self._out, []
        return out

    def _end(self, d: Dialog, reason: str) -> None:
        self._forget(d, reason)
        self._out.append(CallEnded(d, reason))

    def _forget(self, d: Dialog, reason: str) -> None:
        """The dialog is over: a late copy of its INVITE gets the final error again, or nothing after a 2xx."""
        was_early = d.state.early
        d.state, d.end_reason = CallState.ENDED, reason
        if self.dialogs.get(d.key) is d:
            del self.dialogs[d.key]
        self._recent[(d.key, d.invite.branch)] = d.last_response if was_early else b""
        while len(self._recent) > RECENT_DIALOGS:
            self._recent.popitem(last=False)


def _secure_target(request: SipMessage | None) -> bool:
    """The request's target was a SIPS URI: its Request-URI, else its top Record-Route, else its Contact."""
    if request is None:
        return False
    routes = request.get_all("record-route")
    target = request.uri if request.uri else ""
    first = routes[0] if routes else request.get("contact") or ""
    return target.lower().startswith("sips:") or first.strip().lstrip("<").lower().startswith("sips:")
