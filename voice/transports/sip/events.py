"""What the sans-IO SIP user agent tells its transport: bytes to send and call events to act on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voice.transports.sip.dialog import Dialog
from voice.transports.sip.sdp import MediaOffer


@dataclass(frozen=True)
class Send:
    """Put these bytes on the flow the message came from (or the dialog's flow)."""

    flow: Any
    data: bytes


@dataclass(frozen=True)
class IncomingCall:
    """An INVITE passed every protocol check: answer with ``ring`` (an RTP port ready) or ``refuse``."""

    dialog: Dialog


@dataclass(frozen=True)
class AnswerDue:
    """The ringing time is over: start the call's session and ``answer``, or ``fail`` if it cannot start."""

    dialog: Dialog


@dataclass(frozen=True)
class MediaChanged:
    """The caller's media moved (re-INVITE, hold, or the answer to our offer in the ACK)."""

    dialog: Dialog
    offer: MediaOffer


@dataclass(frozen=True)
class KeyPressed:
    """A key sent as SIP INFO on an answered call."""

    dialog: Dialog
    key: str


@dataclass(frozen=True)
class CallEnded:
    """The dialog is over (BYE either way, CANCEL, no ACK, transfer done or failed): stop media and session.

    May be reported more than once for one dialog; acting on it must be idempotent.
    """

    dialog: Dialog
    reason: str


Event = Send | IncomingCall | AnswerDue | MediaChanged | KeyPressed | CallEnded
