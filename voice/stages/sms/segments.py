"""How many SMS segments a text takes, and a message cut to fit a number of them.

GSM 03.38 (7-bit) carries 160 characters in one segment and 153 per segment of a longer message; its
extension characters (``€ [ ] { } ^ ~ | \\``) take two septets each and are never split between segments.
Any character outside the GSM set turns the whole message into UCS-2: 70 UTF-16 code units in one
segment, 67 per segment of a longer one, surrogate pairs kept together. German fits GSM-7 (umlauts and
ß are in it) once typographic quotes and dashes are made plain; Arabic, Persian, Chinese and Cyrillic do
not, so the same answer takes more segments there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "^{}\\[~]|€\f"
_GSM = frozenset(GSM_BASIC) | frozenset(GSM_EXTENSION)
PLAIN = str.maketrans({"„": '"', "“": '"', "”": '"', "«": '"', "»": '"', "‚": "'", "‘": "'", "’": "'",
                       "–": "-", "—": "-", "‑": "-", "…": "...", "\u00a0": " ", "\u202f": " "})
SINGLE = {"GSM-7": 160, "UCS-2": 70}
MULTI = {"GSM-7": 153, "UCS-2": 67}


def plain(text: str) -> str:
    """Typographic quotes, dashes and spaces made plain, so that a Latin-script text can stay in GSM-7."""
    return text.translate(PLAIN)


def encoding(text: str) -> str:
    return "GSM-7" if all(c in _GSM for c in text) else "UCS-2"


def _units(text: str, kind: str) -> list[int]:
    """The size of each character: septets for GSM-7, UTF-16 code units for UCS-2."""
    if kind == "GSM-7":
        return [2 if c in GSM_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def segments(text: str) -> int:
    """The number of segments ``text`` is sent in (0 for an empty text)."""
    if not text:
        return 0
    kind = encoding(text)
    units = _units(text, kind)
    if sum(units) <= SINGLE[kind]:
        return 1
    count, used = 1, 0
    for size in units:  # a two-unit character never straddles two segments
        if used + size > MULTI[kind]:
            count, used = count + 1, 0
        used += size
    return count


_SENTENCE_END = re.compile(r"(?<=[.!?。؟۔])\s+")


def fit(body: str, tail: Sequence[str], max_segments: int, separator: str = "\n") -> str:
    """``body`` cut at a sentence end, then every line of ``tail``, within ``max_segments``.

    The tail (the web page, the not-legal-advice line, the legal basis) is what must arrive; lines are
    given most important first and the least important are left out when the tail alone is too long.
    The first line is required: when not even it fits, the result is empty (nothing worth sending). The
    body keeps as many whole sentences as fit before the tail; none when not even its first one fits.
    """
    lines = [line for line in tail if line]
    while len(lines) > 1 and segments(separator.join(lines)) > max_segments:
        lines.pop()
    if lines and segments(lines[0]) > max_segments:
        return ""
    sentences = [s for s in _SENTENCE_END.split(body.strip()) if s]
    kept: list[str] = []
    for sentence in sentences:
        candidate = " ".join([*kept, sentence])
        if segments(separator.join([candidate, *lines])) > max_segments:
            break
        kept.append(sentence)
    return separator.join([" ".join(kept), *lines] if kept else lines)
