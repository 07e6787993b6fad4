"""The hotline's SIP user agent as a pure state machine, in the style of h11.

Bytes and clock readings go in (``receive``, ``tick``), and so do the transport's decisions (``ring``,
``refuse``, ``answer``, ``fail``, ``hang_up``, ``transfer``); what comes out is a list of events: bytes to
send and call events to act on (``voice.transports.sip.events``). Nothing here opens a socket, starts a
thread or reads a clock, so every protocol rule is unit-tested by feeding messages and times
(``tests/unit/test_sip_agent.py``). Not thread-safe: the transport calls it under one lock.

Security: only peers in the allow-list get anything but 403; INVITEs may have to pass digest
authentication; the number of calls and the size of messages are capped; a malformed message is answered
400 (or 488 for an SDP the hotline cannot use) when it can be answered at all, otherwise dropped. No
message can raise out of ``receive``: a handler that fails is logged and answered 500.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
from dataclasses import dataclass, field
from typing import Any

from voice.transports.sip.dialog import CallState, Dialog
from voice.transports.sip.events import AnswerDue, CallEnded, Event, Send
from voice.transports.sip.message import (
    KNOWN_METHODS,
    SipError,
    SipMessage,
    name_addr_uri,
    new_branch,
    new_tag,
    parse_message,
    response,
    unsupported_extensions,
)
from voice.transports.sip.requests import mark_source
from voice.transports.sip.transaction import AnswerRetransmission, ClientTransaction, TimerOutcome
from voice.transports.sip.uas import ALLOW, METHODS, SUPPORTED, Uas

log = logging.getLogger(__name__)

TRANSFER_GRACE_S = 10.0  # after an accepted REFER, the NOTIFY with the result ends our leg, or this does


@dataclass(eq=False)
class _Request:
    """One of our own requests in flight: its transaction and the dialog it belongs to."""

    tx: ClientTransaction
    dialog: Dialog
    flow: Any


@dataclass
class UserAgent(Uas):
    """The whole user agent: the answering side (``Uas``) plus timers, our own requests and the decisions."""

    _timers: list[tuple[float, int, str, Any]] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    _requests: dict[str, _Request] = field(default_factory=dict)  # by branch

    # ---- inputs ---------------------------------------------------------------------------------------

    def receive(self, data: bytes, flow: Any, now: float) -> list[Event]:
        """One message from the network (``flow`` has transport, addr, reliable, local, port)."""
        self.now = now
        self.stats["received"] += 1
        try:
            self._receive(data, flow)
        except Exception:
            self.stats["errors"] += 1
            log.exception("SIP: handling a message from %s:%d failed", *flow.addr)
            with contextlib.suppress(Exception):
                request = parse_message(data, self.config.max_message_bytes)
                if request.is_request and request.method != "ACK":
                    self._send(flow, response(request, 500))
        return self._flush()

    def next_deadline(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def tick(self, now: float) -> list[Event]:
        """Run every timer due by ``now``: retransmissions, time-outs, the answer after ringing."""
        self.now = now
        while self._timers and self._timers[0][0] <= now:
            _, _, kind, subject = heapq.heappop(self._timers)
            getattr(self, f"_timer_{kind}")(subject)
        return self._flush()

    # ---- the transport's decisions ------------------------------------------------------------------------

    def ring(self, d: Dialog, rtp_port: int, now: float) -> list[Event]:
        """Admitted, with media ready on ``rtp_port``: 100 and 180 now, the answer after the ringing time."""
        self.now = now
        if d.state is not CallState.OFFERED:  # cancelled while the transport decided
            return [CallEnded(d, d.end_reason or "cancelled")]
        d.rtp_port, d.state = rtp_port, CallState.RINGING
        self._send(d.flow, response(d.invite, 100))
        d.last_response = self._send(d.flow, response(d.invite, 180, to_tag=d.local_tag,
                                                      extra=[("contact", d.contact)]))
        log.info("SIP: call %s from %s:%d over %s", d.call_id, *d.flow.addr, d.flow.transport)
        self._after(self.config.ring_s, "answer", d)
        return self._flush()

    def refuse(self, d: Dialog, status: int, extra: list[tuple[str, str]] | None = None) -> list[Event]:
        """Not admitted (503 overloaded, ...): a final answer; no call was ever reported started."""
        if d.state is CallState.OFFERED:
            d.last_response = self._send(d.flow, response(d.invite, status, to_tag=d.local_tag, extra=extra))
            self._forget(d, "refused")
        return self._flush()

    def answer(self, d: Dialog, now: float) -> list[Event]:
        """200 with our SDP; over UDP it is repeated until the ACK (or the call ends after 64*T1)."""
        self.now = now
        if d.state is not CallState.RINGING:
            return self._flush()
        d.state = CallState.ANSWERED
        ok = response(d.invite, 200, to_tag=d.local_tag, body=d.sdp(d.flow.local),
                      extra=[("contact", d.contact), ("allow", ALLOW), ("content-type", "application/sdp")])
        d.last_response = self._send(d.flow, ok)
        if not d.flow.reliable:
            d.answer_tx = AnswerRetransmission(now)
            self._at(d.answer_tx.due, "ok", d)
        return self._flush()

    def fail(self, d: Dialog) -> list[Event]:
        """The call could not start (its session failed): 500 while it still rings."""
        if d.state.early:
            d.last_response = self._send(d.flow, response(d.invite, 500, to_tag=d.local_tag))
            self._end(d, "error")
        return self._flush()

    def hang_up(self, d: Dialog, reason: str, now: float) -> list[Event]:
        """The hotline ends the call: BYE, or a final 480 while it still rings."""
        self.now = now
        self._hang_up(d, reason)
        return self._flush()

    def _hang_up(self, d: Dialog, reason: str) -> None:
        if d.state is CallState.ENDED:
            return
        if d.state.early:
            d.last_response = self._send(d.flow, response(d.invite, 480, to_tag=d.local_tag))
        else:
            self._request(d, "BYE")
        self._end(d, reason)

    def transfer(self, d: Dialog, target: str, now: float) -> list[Event]:
        """Blind transfer by REFER to ``target``; without one (or when not answered) the call ends."""
        self.now = now
        if not d.state.talking or not target:
            self._hang_up(d, "hangup")
            return self._flush()
        d.transferring = True
        log.info("SIP: call %s: transfer to %s", d.call_id, target)
        referred_by = name_addr_uri(d.invite.get("to"))
        self._request(d, "REFER", [("refer-to", f"<{target}>"), ("referred-by", f"<{referred_by}>")])
        return self._flush()

    # ---- dispatch --------------------------------------------------------------------------------------

    def _receive(self, data: bytes, flow: Any) -> None:
        if not self.allowed(flow.addr[0]):
            self.stats["rejected"] += 1
            log.warning("SIP: rejected %s:%d (not in HOTLINE_SIP_ALLOW)", *flow.addr)
            with contextlib.suppress(SipError):
                message = parse_message(data, self.config.max_message_bytes)
                if message.is_request and message.method != "ACK":
                    self._send(flow, response(message, 403, to_tag=new_tag()))
            return
        try:
            message = parse_message(data, self.config.max_message_bytes, stream=flow.reliable)
        except SipError as exc:
            self.stats["malformed"] += 1
            log.info("SIP from %s:%d: %s", *flow.addr, exc)
            if exc.status and exc.message is not None and exc.message.method != "ACK":
                self._send(flow, response(exc.message, exc.status, extra=[("warning", f'399 hotline "{exc}"')]))
            return
        if not message.is_request:
            self._on_response(message)
            return
        mark_source(message, flow.addr)
        handler = getattr(self, f"_on_{message.method.lower()}", None) if message.method in METHODS else None
        if handler is None:
            status = 405 if message.method in KNOWN_METHODS else 501
            self._send(flow, response(message, status, extra=[("allow", ALLOW)]))
            return
        unsupported = unsupported_extensions(message, SUPPORTED) if message.method not in ("ACK", "CANCEL") else []
        if unsupported:
            self._send(flow, response(message, 420, to_tag=new_tag(), extra=[("unsupported", ", ".join(unsupported))]))
            return
        handler(message, flow)

    # ---- requests from the hotline ------------------------------------------------------------------------

    def _request(self, d: Dialog, method: str, extra: list[tuple[str, str]] | None = None) -> None:
        flow, branch = d.flow, new_branch()
        via = f"SIP/2.0/{flow.transport} {flow.local}:{flow.port or self.config.port};branch={branch};rport"
        data = self._send(flow, d.request(method, via, extra))
        tx = ClientTransaction(branch, method, data, flow.reliable, self.now)
        self._requests[branch] = _Request(tx, d, flow)
        self._at(tx.due, "request", branch)

    def _on_response(self, reply: SipMessage) -> None:
        pending = self._requests.get(reply.branch)
        if pending is not None and pending.tx.on_response(reply.status):
            del self._requests[reply.branch]
            self._outcome(pending, reply.status)

    def _outcome(self, pending: _Request, status: int | None) -> None:
        """A final response to our request (None: it timed out)."""
        d = pending.dialog
        if pending.tx.method != "REFER" or d.state is CallState.ENDED:
            return
        if status is None or status >= 300:
            log.warning("SIP: call %s: REFER refused (%s); hanging up", d.call_id, status or "no answer")
            self._hang_up(d, "transfer-failed")
        else:
            self._after(TRANSFER_GRACE_S, "transferred", d)

    # ---- timers ------------------------------------------------------------------------------------------

    def _after(self, delay: float, kind: str, subject: Any) -> None:
        self._at(self.now + delay, kind, subject)

    def _at(self, when: float, kind: str, subject: Any) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), kind, subject))

    def _timer_answer(self, d: Dialog) -> None:
        if d.state is CallState.RINGING:
            self._out.append(AnswerDue(d))

    def _timer_ok(self, d: Dialog) -> None:
        if d.answer_tx is None or d.state is not CallState.ANSWERED:
            return
        outcome = d.answer_tx.on_timer(self.now)
        if outcome is TimerOutcome.RESEND:
            self._out.append(Send(d.flow, d.last_response))
            self._at(d.answer_tx.due, "ok", d)
        elif outcome is TimerOutcome.TIMED_OUT:
            log.warning("SIP: no ACK for call %s; ending it", d.call_id)
            self._hang_up(d, "no-ack")

    def _timer_request(self, branch: str) -> None:
        pending = self._requests.get(branch)
        if pending is None:
            return
        outcome = pending.tx.on_timer(self.now)
        if outcome is TimerOutcome.RESEND:
            self._out.append(Send(pending.flow, pending.tx.data))
            self._at(pending.tx.due, "request", branch)
        elif outcome is TimerOutcome.TIMED_OUT:
            del self._requests[branch]
            self._outcome(pending, None)

    def _timer_transferred(self, d: Dialog) -> None:
        self._hang_up(d, "transferred")
