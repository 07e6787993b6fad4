"""The written answer by SMS: the message composed from the knowledge base, checked, sent, forgotten.

``AnswerTexter`` is the ``Texter`` every transport uses. The message, in the caller's language: the
topic's written answer (cut at a sentence to fit), then the web page, the not-legal-advice line, the legal
basis with its date and the office's contacts, at most ``max_segments`` SMS segments (GSM-7 or UCS-2,
counted as the network does). The number is used to send and then forgotten: only the status, the
segment count and the service's message id are returned for the call record; refusals and failures are
logged without it.
"""

from __future__ import annotations

import logging
from typing import Any

from voice.core.domain import TextSent
from voice.core.engine_types import Prompt
from voice.runtime.config import Settings
from voice.runtime.phrases import Phrases
from voice.stages.sms.policy import Refusal, SmsPolicy
from voice.stages.sms.segments import encoding, fit, plain
from voice.stages.sms.twilio_sms import SmsFailed

log = logging.getLogger(__name__)


def make_texter(settings: Settings, answerer: Any, phrases: Phrases, hash_key: bytes) -> AnswerTexter | None:
    """The SMS sender configured by ``HOTLINE_SMS_*`` (None when ``HOTLINE_SMS_FROM`` is empty)."""
    if not settings.sms_from:
        return None
    from voice.stages.sms.twilio_sms import TwilioSms

    base = settings.public_base_url.rstrip("/")
    sender = TwilioSms(settings.twilio_account_sid, settings.twilio_auth_token, settings.sms_from,
                       status_callback=f"{base}/twilio/sms-status" if base else "", base_url=settings.sms_api_url)
    regions = frozenset(r.strip().upper() for r in settings.sms_regions.split(",") if r.strip())
    return AnswerTexter(answerer, phrases, SmsPolicy(regions, settings.sms_per_day, hash_key), sender)


class AnswerTexter:
    def __init__(self, answerer: Any, phrases: Phrases, policy: SmsPolicy, sender: Any, max_segments: int = 4) -> None:
        self.answerer, self.phrases, self.policy, self.sender = answerer, phrases, policy, sender
        self.max_segments = max_segments

    def can_text(self, number: str | None) -> bool:
        refusal = self.policy.check(number)
        return refusal in (None, Refusal.LIMIT)  # over the limit: offered, then told why not

    def compose(self, topic: str, language: str) -> str:
        a = self.answerer.answer_topic(topic, language)
        content = self.phrases.content
        basis = Prompt("legal_basis_intro", language, (("legal_basis", ", ".join(a.legal_basis)), ("as_of", a.as_of)))
        tail = [
            content.fill("{office.website}", language),
            self.phrases.say("disclaimer", language),
            self.phrases.text(basis) if a.legal_basis else "",
            self.phrases.say("sms_contacts", language),
        ]
        body = " ".join((a.written or a.text).split())
        message = fit(body, tail, self.max_segments)
        gsm = plain(message)
        return gsm if encoding(gsm) == "GSM-7" else message

    def send_answer(self, number: str, topic: str, language: str) -> TextSent:
        refusal = self.policy.check(number)
        if refusal is not None:
            log.info("SMS for %s (%s) not sent: %s", topic, language, refusal.value)
            return TextSent("refused")
        try:
            message = self.compose(topic, language)
            if not message:
                log.warning("SMS for %s (%s) not sent: nothing fits %d segments", topic, language, self.max_segments)
                return TextSent("failed")
            sent = self.sender.send(self.policy.e164(number), message)
        except SmsFailed as exc:
            log.warning("SMS for %s (%s) not sent: %s", topic, language, exc)
            return TextSent("failed")
        except Exception:
            log.exception("SMS for %s (%s) not sent", topic, language)
            return TextSent("failed")
        self.policy.count(number)
        log.info("SMS for %s (%s) sent: %d segment(s), %s", topic, language, sent.segments, sent.sid)
        return TextSent("sent", sent.segments, sent.sid)
