"""One call's dialog on the hotline's side: its state, identifiers and the messages it builds (no I/O).

The state is an enum that only moves forward::

    OFFERED -> RINGING -> ANSWERED -> CONFIRMED
         \\________\\__________\\__________\\____> ENDED

OFFERED: the INVITE passed the protocol checks and waits for the runtime's admission; RINGING: 180 sent,
the answer is due after the ringing time; ANSWERED: 200 sent, no ACK yet; CONFIRMED: ACK received.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from voice.transports.sip.message import SipMessage, name_addr_uri, tag_of
from voice.transports.sip.sdp import MediaOffer, answer_for, our_offer
from voice.transports.sip.transaction import AnswerRetransmission


class CallState(Enum):
    OFFERED = "offered"
    RINGING = "ringing"
    ANSWERED = "answered"
    CONFIRMED = "confirmed"
    ENDED = "ended"

    @property
    def early(self) -> bool:
        """No final response sent yet: the call can still be refused or cancelled."""
        return self in (CallState.OFFERED, CallState.RINGING)

    @property
    def talking(self) -> bool:
        """Answered: media and keys count."""
        return self in (CallState.ANSWERED, CallState.CONFIRMED)


def dialog_key(request: SipMessage) -> tuple[str, str]:
    """Calls are told apart by Call-ID and the caller's tag: a Call-ID alone may be reused (RFC 3261 12)."""
    return request.call_id, tag_of(request.get("from"))


@dataclass(eq=False)
class Dialog:
    """A call as SIP sees it. ``flow`` is the transport's opaque return path, kept and handed back."""

    flow: Any
    invite: SipMessage  # the INVITE that created it (its Contact follows re-INVITEs: the remote target)
    local_tag: str
    contact: str  # our Contact header value
    offer: MediaOffer | None = None
    state: CallState = CallState.OFFERED
    rtp_port: int = 0
    srtp_key: str = ""  # our SRTP master key and salt (base64) when the media is encrypted
    sdp_id: int = 0
    sdp_version: int = 1
    local_cseq: int = 1
    last_response: bytes = b""  # repeated when the INVITE is retransmitted
    answer_tx: AnswerRetransmission | None = None
    transferring: bool = False
    end_reason: str = ""
    branches: set[str] = field(default_factory=set)  # our in-dialog requests still open

    @property
    def call_id(self) -> str:
        return self.invite.call_id

    @property
    def key(self) -> tuple[str, str]:
        return dialog_key(self.invite)

    def matches(self, request: SipMessage) -> bool:
        """The request's To tag (if any) is ours: it belongs to this dialog, not a fork of it."""
        to_tag = tag_of(request.get("to"))
        return not to_tag or to_tag == self.local_tag

    def sdp(self, address: str) -> bytes:
        """Our SDP: an answer to the caller's offer, or an offer of our own when the INVITE had none."""
        if self.offer is None:
            return our_offer(address, self.rtp_port, self.sdp_id, self.sdp_version, self.srtp_key)
        return answer_for(self.offer, address, self.rtp_port, self.sdp_id, self.sdp_version, self.srtp_key)

    def retarget(self, reinvite: SipMessage) -> None:
        """A re-INVITE may move the remote target: keep its Contact."""
        if reinvite.get("contact"):
            invite = self.invite
            self.invite = SipMessage(invite.method, invite.uri, invite.status, invite.reason, list(invite.headers),
                                     invite.body)
            self.invite.set("contact", reinvite.get("contact"))

    def request(self, method: str, via: str, extra: list[tuple[str, str]] | None = None) -> SipMessage:
        """A new request inside the dialog (BYE, REFER): next CSeq, tags swapped, the route set kept."""
        invite = self.invite
        target = name_addr_uri(invite.get("contact") or invite.get("from"))
        self.local_cseq += 1
        to = invite.get("to")
        headers = [
            ("via", via),
            ("max-forwards", "70"),
            ("from", to if tag_of(to) else f"{to};tag={self.local_tag}"),
            ("to", invite.get("from")),
            ("call-id", self.call_id),
            ("cseq", f"{self.local_cseq} {method}"),
        ]
        headers += [("route", r) for r in invite.get_all("record-route")]
        headers += [("contact", self.contact), *(extra or [])]
        return SipMessage(method=method, uri=target, headers=headers)
