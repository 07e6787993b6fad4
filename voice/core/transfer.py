"""Who takes a handed-over call, and what they learn about it before they answer.

The office profile may name staff per language (``transfer_numbers: {ar: "+49 …", uk: "+49 …"}``); the
general ``transfer_number`` is the fallback. The person who picks up should not start from zero: SIP
carries the call's context as headers in the REFER's target (``voice.transports.sip.message``), and
Twilio plays a short whisper to the person before the call is connected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# how staff (German-speaking) hear the caller's language in the whisper before a handed-over call
STAFF_LANGUAGE_NAMES = {
    "de": "Deutsch", "en": "Englisch", "tr": "Türkisch", "ar": "Arabisch", "uk": "Ukrainisch", "ru": "Russisch",
    "fa": "Persisch", "ps": "Paschtu", "ku": "Kurdisch", "sq": "Albanisch", "sr": "Serbisch", "ro": "Rumänisch",
    "pl": "Polnisch", "es": "Spanisch", "fr": "Französisch", "vi": "Vietnamesisch", "zh": "Chinesisch",
    "so": "Somali", "ti": "Tigrinya",
}
WHISPER = "Ein Anruf von der Hotline. Sprache: {language}."
WHISPER_TOPIC = "Ein Anruf von der Hotline. Sprache: {language}. Thema: {topic}."


def whisper_text(office: Mapping[str, Any], language: str, topic_title: str | None) -> str:
    """What the person who picks up hears first (the office profile's ``transfer_whisper`` may reword it)."""
    template = str(office.get("transfer_whisper_topic" if topic_title else "transfer_whisper", "") or "")
    template = template or (WHISPER_TOPIC if topic_title else WHISPER)
    return template.format(language=STAFF_LANGUAGE_NAMES.get(language, language), topic=topic_title or "")


def transfer_number(office: Mapping[str, Any], language: str) -> str:
    """The number for a caller speaking ``language``: its own staff where named, else the general one."""
    numbers = office.get("transfer_numbers") or {}
    chosen = numbers.get(language) if isinstance(numbers, Mapping) else None
    return str(chosen or office.get("transfer_number", "") or "")


def dial_digits(number: str) -> str:
    """A number as SIP user part or dial string: digits and a leading +."""
    return re.sub(r"[^\d+]", "", number)
