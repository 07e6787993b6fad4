"""Which numbers the hotline may text: mobile numbers of allowed countries, a few messages a day each.

The number that called is checked with libphonenumber's data (``phonenumbers``): it must be a valid
number of one of the allowed regions (default Germany) and of mobile type. Withheld, short, premium,
fixed-line and unparseable numbers are refused. The daily limit counts per caller by a keyed hash, so the
counter never holds a number in clear.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading
from dataclasses import dataclass, field
from enum import Enum

import phonenumbers
from phonenumbers import PhoneNumberType

WITHHELD = {"", "anonymous", "restricted", "unknown", "private", "unavailable", "+266696687", "+86282452253",
            "+7378742833", "+2562533", "+8656696"}  # Twilio's and carriers' stand-ins for a hidden number
MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


class Refusal(Enum):
    WITHHELD = "withheld"
    NOT_A_NUMBER = "not-a-number"
    COUNTRY = "country"
    NOT_MOBILE = "not-mobile"
    LIMIT = "limit"


@dataclass
class SmsPolicy:
    regions: frozenset[str] = frozenset({"DE"})
    per_day: int = 3
    key: bytes = b""
    _sent: dict[tuple[str, dt.date], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, number: str | None, today: dt.date | None = None) -> Refusal | None:
        """Why this number may not get a message now, or None when it may."""
        raw = (number or "").strip()
        if raw.lower() in WITHHELD:
            return Refusal.WITHHELD
        parsed = self._parse(raw)
        if parsed is None:
            return Refusal.NOT_A_NUMBER
        if not phonenumbers.is_valid_number(parsed):
            return Refusal.NOT_A_NUMBER
        if phonenumbers.region_code_for_number(parsed) not in self.regions:
            return Refusal.COUNTRY
        if phonenumbers.number_type(parsed) not in MOBILE_TYPES:
            return Refusal.NOT_MOBILE
        with self._lock:
            if self._sent.get((self._hash(raw), today or dt.date.today()), 0) >= self.per_day:
                return Refusal.LIMIT
        return None

    def e164(self, number: str) -> str:
        """The number as the messaging API wants it (+49…); a PBX may send it in national form (0151…)."""
        parsed = self._parse(number.strip())
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) if parsed else number

    def _parse(self, raw: str) -> phonenumbers.PhoneNumber | None:
        home = sorted(self.regions)[0] if len(self.regions) == 1 else None  # national form: the one region
        try:
            return phonenumbers.parse(raw, None if raw.startswith("+") else home)
        except phonenumbers.NumberParseException:
            return None

    def count(self, number: str, today: dt.date | None = None) -> None:
        """Note one message sent to ``number`` today (kept by its keyed hash only)."""
        day = today or dt.date.today()
        with self._lock:
            for stale in [k for k in self._sent if k[1] < day]:
                del self._sent[stale]
            key = (self._hash(number.strip()), day)
            self._sent[key] = self._sent.get(key, 0) + 1

    def _hash(self, number: str) -> str:
        return hmac.new(self.key, number.encode(), hashlib.sha256).hexdigest()[:32]
