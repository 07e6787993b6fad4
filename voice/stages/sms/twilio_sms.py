"""Sending a text message through Twilio's Messaging API with the ``twilio`` REST client.

The client's retries and errors stay inside: ``send`` returns the message's SID and status, or raises
``SmsFailed`` with a reason that names no number. ``base_url`` points the client elsewhere (tests use a
local server standing in for the API, which these machines cannot reach).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from voice.stages.sms.segments import segments

log = logging.getLogger(__name__)


class SmsFailed(RuntimeError):
    """The message could not be handed to the API (its reason never contains the number)."""


@dataclass(frozen=True)
class SentMessage:
    sid: str
    status: str  # Twilio's: queued, accepted, sending, sent, delivered, undelivered, failed
    segments: int


class TwilioSms:
    def __init__(self, account_sid: str, auth_token: str, sender: str, status_callback: str = "",
                 base_url: str = "", timeout_s: float = 10.0) -> None:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self.sender, self.status_callback = sender, status_callback
        self.client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout_s))
        if base_url:
            self.client.api.base_url = base_url.rstrip("/")

    def send(self, to: str, body: str) -> SentMessage:
        from twilio.base.exceptions import TwilioException

        try:
            extra = {"status_callback": self.status_callback} if self.status_callback else {}
            message = self.client.messages.create(to=to, from_=self.sender, body=body, **extra)
        except TwilioException as exc:
            status = getattr(exc, "status", None)
            code = getattr(exc, "code", None)
            raise SmsFailed(f"the Messaging API refused the message (HTTP {status}, code {code})") from None
        except OSError as exc:
            raise SmsFailed(f"the Messaging API cannot be reached ({type(exc).__name__})") from None
        return SentMessage(str(message.sid), str(message.status or "queued"), segments(body))
