"""A SIP call's I/O side: its dialog (owned by the agent), RTP, session, record, and its output sink."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from voice.runtime.call_record import CallRecord
from voice.runtime.runtime import LiveCall
from voice.runtime.stream.session import StreamSession
from voice.transports.sip.dialog import CallState, Dialog
from voice.transports.sip.message import SipMessage
from voice.transports.sip.rtp import RtpChannel
from voice.transports.sip.sdp import MediaOffer
from voice.transports.sip.transports import Flow


class CallControl(Protocol):
    """What a call's sink asks of the server (``SipServer``)."""

    def post(self, work: Callable[[], None]) -> None: ...
    def transfer(self, call: SipCall) -> None: ...
    def hang_up(self, call: SipCall, reason: str) -> None: ...


@dataclass(eq=False)
class SipCall:
    """A call's I/O: its dialog (owned by the agent), RTP channel, session and place in the runtime."""

    dialog: Dialog
    live: LiveCall
    rtp: RtpChannel = field(init=False)
    session: StreamSession | None = None
    record: CallRecord = field(default_factory=lambda: CallRecord(None, None))

    @property
    def call_id(self) -> str:
        return self.dialog.call_id

    @property
    def state(self) -> CallState:
        return self.dialog.state

    @property
    def offer(self) -> MediaOffer | None:
        return self.dialog.offer

    @property
    def flow(self) -> Flow:
        flow: Flow = self.dialog.flow
        return flow

    @property
    def invite(self) -> SipMessage:
        return self.dialog.invite


class SipSink:
    """A session's output as RTP and SIP (the player's clock thread calls these: never block it)."""

    def __init__(self, server: CallControl, call: SipCall) -> None:
        self.server, self.call = server, call

    def send_frame(self, payload: bytes) -> None:
        self.call.rtp.send_frame(payload)

    def send_mark(self, name: str) -> None:
        if self.call.session is not None:  # the frames before the mark are on the wire
            self.call.session.mark(name)

    def clear(self) -> None:
        pass  # nothing is buffered remotely beyond a few frames

    def transfer(self) -> None:
        self.server.post(lambda: self.server.transfer(self.call))

    def hangup(self) -> None:
        self.server.post(lambda: self.server.hang_up(self.call, "hangup"))
