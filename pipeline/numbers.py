"""The numbers a text states, and whether two texts of one topic state the same ones.

A wrong number is the most likely way a translation or a shortened spoken text contradicts the law
(one year instead of three, 96 € instead of 100 €). ``faq check`` compares the numbers of
- the spoken German with the written German: every number spoken must be in the written text, unless
  the entry lists it under ``simplified_numbers`` (a rounded or simplified figure on purpose);
- every translation with the spoken German: the same set of numbers, none dropped and none added.

Numbers are read in every script (Arabic-Indic and Persian digits count as digits), with thousands
separators and decimal commas normalised ("50.700" and "50,700" are 50700; "45.934,20" is 45934.2),
German number words ("zwei" … "zwölf", "zweijährig") and Arabic duals ("سنتين", two years). Translations
write their numbers as digits (``prompts/README.md``). "1" is not compared: "a year" and "one year"
say the same. A date is compared by its year, as day and month are written differently in every
language. Legal citations (§ 25 Abs. 2) name paragraphs, not quantities, and are left out. Office
placeholders are ignored (phone numbers are not legal facts); a figure counts by its name
(``figure:fee_extension``), so a text that writes a figure's value out instead of referencing it is
reported too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from pipeline.knowledge import Entry

_OFFICE = re.compile(r"\{office\.[a-z_0-9]+\}")
_FIGURE = re.compile(r"\{figure\.([a-z_0-9]+)\}")
_NUMBER = re.compile(r"\d+(?:[.,\u00a0\u202f]\d+)*")
_SEPARATORS = re.compile(r"[.,\u00a0\u202f]")
# level names (A2, B1, C1) and paragraph-like labels are not quantities
_LEVEL = re.compile(r"\b[ABC][12]\b")
# legal citations name paragraphs, not quantities: "§ 25 Abs. 2 Satz 1 AufenthG", "Art. 28 GFK",
# "BGBl. 2025 I Nr. 173", "1 C 22.18" (a court's file number)
_CITATION = re.compile(
    r"(?:§§?|Art\.|Artikel)\s*\d+\w?(?:\s*(?:[-–]|bis|und|,)\s*\d+\w?)*"
    r"(?:\s*(?:Abs\.|Absatz|Satz|S\.|Nr\.|Buchst\.|Alt\.)\s*\d+\w?)*"
    r"|BGBl\.\s*(?:\d{4}\s*)?I+\s*(?:Nr\.|S\.)\s*\d+|\b\d+\s+C\s+\d+\.\d+"
)
# "1. März 2024", "1 March 2024", "2024年3月1日", "ngày 1 tháng 3 năm 2024": day and month of a date
_YEAR = re.compile(r"(19|20)\d\d")
_DATE_REACH = 16  # "27 de junio de 2024"
_DATE_PUNCT = re.compile(r"[\s.,/\-年月日号]")
_CJK = re.compile(r"[\u3000-\u9fff]")

_WORDS: dict[str, dict[str, str]] = {
    "de": {
        "zwei": "2",
        "drei": "3",
        "vier": "4",
        "fünf": "5",
        "sechs": "6",
        "sieben": "7",
        "acht": "8",
        "neun": "9",
        "zehn": "10",
        "elf": "11",
        "zwölf": "12",
        "achtzehn": "18",
        "zwanzig": "20",
        "dreißig": "30",
    },
    "ar": {
        "سنتين": "2",
        "سنتان": "2",
        "لسنتين": "2",
        "عامين": "2",
        "عامان": "2",
        "شهرين": "2",
        "شهران": "2",
        "أسبوعين": "2",
        "أسبوعان": "2",
        "يومين": "2",
    },
}
_WORD_PATTERNS = {
    lang: re.compile(
        r"(?<!\w)(" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + r")(?:jährig\w*)?(?!\w)", re.I
    )
    for lang, words in _WORDS.items()
}


def _date_parts(text: str, matches: list[re.Match[str]]) -> set[int]:
    """Indexes of matches that are the day or month of a written-out date next to a year.

    Numbers are chained when only date punctuation separates them, or a single word (a month name)
    stands between a number and the number or year after it; a chain that holds a year is a date.
    """
    chains: list[list[int]] = [[0]] if matches else []
    for i in range(1, len(matches)):
        gap = text[matches[i - 1].end() : matches[i].start()]
        rest = _DATE_PUNCT.sub("", gap)
        joined = len(gap) <= _DATE_REACH and (not rest or (rest.isalpha() and not _CJK.search(rest)))
        if joined and rest and not _YEAR.fullmatch(matches[i].group()) and _YEAR.fullmatch(matches[i - 1].group()):
            joined = False  # "2026 und 3 Jahre": a word after the year ends the date
        if joined:
            chains[-1].append(i)
        else:
            chains.append([i])
    parts: set[int] = set()
    for chain in chains:
        if any(_YEAR.fullmatch(matches[i].group()) for i in chain):
            parts.update(i for i in chain if not _YEAR.fullmatch(matches[i].group()))
    return parts


def _ascii_digits(text: str) -> str:
    return "".join(str(unicodedata.digit(ch)) if ch.isdigit() and not ch.isascii() else ch for ch in text)


def _canonical(token: str) -> list[str]:
    """One number token as written ("50.700", "45,5", "23.07.2027") → its canonical values."""
    parts = _SEPARATORS.split(token)
    if len(parts) == 1:
        return [str(int(token))]
    if all(len(p) == 3 for p in parts[1:]) and len(parts[0]) <= 3:
        return [str(int("".join(parts)))]  # thousands separators
    if len(parts) == 3 and len(parts[1]) == 3 and len(parts[2]) <= 2:
        return [f"{int(parts[0] + parts[1])}.{parts[2]}".rstrip("0").rstrip(".")]  # 45.934,20
    if len(parts) == 2 and len(parts[1]) <= 2 and (len(parts[1]) == 1 or parts[1].endswith("0")):
        return [f"{int(parts[0])}.{parts[1]}".rstrip("0").rstrip(".")]  # a decimal: 1,5 or 4,50
    if len(parts) == 3 and _YEAR.fullmatch(parts[2]):
        return [parts[2]]  # 23.07.2027: a date, compared by its year
    return [str(int(p)) for p in parts if p]  # lists: each part on its own


def numbers_in(text: str, language: str) -> frozenset[str]:
    """The numbers ``text`` states, canonical (``"3"``, ``"50700"``, ``"45934.2"``, ``"figure:NAME"``)."""
    found = {f"figure:{name}" for name in _FIGURE.findall(text)}
    text = _FIGURE.sub(" ; ", _OFFICE.sub(" ; ", text))
    text = _LEVEL.sub(" ", _CITATION.sub(" ; ", _ascii_digits(text)))
    matches = list(_NUMBER.finditer(text))
    date_parts = _date_parts(text, matches)
    for i, match in enumerate(matches):
        values = _canonical(match.group())
        if i in date_parts:
            values = [v for v in values if _YEAR.fullmatch(v) or float(v) > 31]  # day and month of a date
        found.update(values)
    pattern = _WORD_PATTERNS.get(language)
    if pattern is not None:
        words = _WORDS[language]
        found.update(words[m.group(1).lower()] for m in pattern.finditer(text))
    found.discard("1")
    return frozenset(found)


def spoken_not_written(spoken: str, written: str, simplified: Iterable[str] = ()) -> list[str]:
    """Numbers of the spoken German that the written German does not state (sorted)."""
    missing = numbers_in(spoken, "de") - numbers_in(written, "de") - {str(s) for s in simplified}
    return sorted(missing, key=_sort_key)


def translation_differences(german: str, text: str, language: str) -> tuple[list[str], list[str]]:
    """(numbers the translation drops, numbers it adds) compared with the German."""
    de = numbers_in(german, "de")
    other = numbers_in(text, language)
    return sorted(de - other, key=_sort_key), sorted(other - de, key=_sort_key)


def _sort_key(value: str) -> tuple[int, float, str]:
    if value.startswith("figure:"):
        return (1, 0.0, value)
    return (0, float(value), value)


def number_mismatches(entry: Entry) -> list[str]:
    """Every number contradiction within one topic, as messages for ``faq check``."""
    problems = []
    german = entry.answers.get("de", "")
    if "de" in entry.written:
        missing = spoken_not_written(german, entry.written["de"], entry.simplified_numbers)
        if missing:
            problems.append(
                f"{entry.id}: the spoken German states {', '.join(missing)}, the written German does not "
                "(correct one of them, or list a deliberate simplification under simplified_numbers)"
            )
    for lang, text in entry.answers.items():
        if lang == "de":
            continue
        dropped, added = translation_differences(german, text, lang)
        if dropped or added:
            parts = ([f"drops {', '.join(dropped)}"] if dropped else []) + (
                [f"adds {', '.join(added)}"] if added else []
            )
            problems.append(f"{entry.id}: answer.{lang} {' and '.join(parts)} compared with the German")
    return problems + _short_mismatches(entry)


def _short_mismatches(entry: Entry) -> list[str]:
    """A short answer states no number its own full answer lacks, and the same numbers as the German short."""
    problems = []
    german = entry.shorts.get("de", "")
    for lang, short in entry.shorts.items():
        extra = sorted(numbers_in(short, lang) - numbers_in(entry.answers.get(lang, ""), lang), key=_sort_key)
        if extra:
            problems.append(f"{entry.id}: answer.{lang}.short states {', '.join(extra)}, its full answer does not")
        if lang != "de" and german:
            dropped, added = translation_differences(german, short, lang)
            if dropped or added:
                parts = ([f"drops {', '.join(dropped)}"] if dropped else []) + (
                    [f"adds {', '.join(added)}"] if added else []
                )
                problems.append(f"{entry.id}: answer.{lang}.short {' and '.join(parts)} compared with the German")
    return problems
