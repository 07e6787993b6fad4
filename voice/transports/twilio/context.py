"""What every Twilio route needs: the app's services, the signature check, and a ``Replies`` object that
renders TwiML without the request (a step that finishes after its webhook answered renders on its own)."""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from flask import Response, abort, current_app, request
from twilio.request_validator import RequestValidator

from voice.core.engine_types import Action, Transfer
from voice.core.transfer import transfer_number
from voice.runtime.driver import PlayedItem
from voice.runtime.services import Services
from voice.transports.twilio import twiml
from voice.web.audio import audio_url

log = logging.getLogger(__name__)


def services() -> Services:
    found: Services = current_app.extensions["hotline"]
    return found


def public_url() -> str:
    base = services().settings.public_base_url.rstrip("/")
    if not base:
        return request.url
    query = request.query_string.decode()
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def verify_signature() -> None:
    """``before_request`` of every Twilio blueprint: a missing or wrong ``X-Twilio-Signature`` is 403."""
    token = services().settings.twilio_auth_token
    if not token:
        log.error("HOTLINE_TWILIO_AUTH_TOKEN is not set: refusing Twilio webhooks")
        abort(403)
    signature = request.headers.get("X-Twilio-Signature", "")
    if not RequestValidator(token).validate(public_url(), request.form.to_dict(), signature):
        log.warning("forged or mis-signed Twilio request to %s refused", request.path)
        abort(403)


def xml(body: str) -> Response:
    return Response(body, mimetype="text/xml")


@dataclass(frozen=True)
class Replies:
    """TwiML for one call's steps: absolute URLs from ``base``, signed audio URLs, the transfer target."""

    services: Services
    base: str
    secret: bytes

    @classmethod
    def here(cls) -> Replies:
        """For the current request (``HOTLINE_PUBLIC_BASE_URL``, else the address the request came to)."""
        s = services()
        base = s.settings.public_base_url.rstrip("/") or request.host_url.rstrip("/")
        return cls(s, base, current_app.extensions["hotline_url_secret"])

    def routes(self) -> twiml.Routes:
        b = f"{self.base}/twilio"
        return twiml.Routes(f"{b}/recording", f"{b}/digits", f"{b}/noinput", f"{b}/continue")

    def audio(self, key: str) -> str:
        return audio_url(self.base, key, self.secret, self.services.settings.audio_url_ttl_s)

    def say(self, phrase: str, language: str) -> str:
        """The signed URL of a fixed phrase spoken in ``language``."""
        rendered = self.services.synthesizer.render(self.services.phrases.say(phrase, language), language, "ulaw8k")
        return self.audio(rendered.key)

    def dial(self, transfer: Transfer) -> tuple[str, str]:
        """The staff number for the caller's language, and the whisper they hear before the call connects."""
        number = transfer_number(self.services.phrases.content.office, transfer.language)
        query = urllib.parse.urlencode({"language": transfer.language, "topic": transfer.topic or ""})
        return number, f"{self.base}/twilio/whisper?{query}"

    def step(self, actions: Sequence[Action], plays: dict[int, list[PlayedItem]]) -> str:
        return twiml.render(actions, plays, self.audio, self.routes(), self.dial)

    def please_wait(self, language: str | None) -> str:
        """"One moment" (said once per step: ``language`` None repeats only the pause), then come back."""
        return twiml.wait_and_continue(self.say("please_wait", language) if language else None, self.routes())

    def fallback(self, language: str) -> str:
        """The last line of defence: a spoken apology, then a person (or the office's contacts)."""
        text = self.services.phrases.say("technical_fallback", "de")
        return twiml.spoken_fallback(text, *self.dial(Transfer(language)))
