"""Making written text speakable: section signs, law abbreviations, amounts, dates, contact details.

eSpeak NG (like most TTS voices) reads "§ 81 Abs. 4 AufenthG" or "info@stadt.de" badly or not at all;
this module rewrites such text into words, per language, before synthesis.
"""

from __future__ import annotations

import re

# word for "section (§)", "euro", "dot", "at (@)", "slash" per language
_WORDS: dict[str, tuple[str, str, str, str, str]] = {
    "de": ("Paragraf", "Euro", "Punkt", "at", "Schrägstrich"),
    "en": ("section", "euros", "dot", "at", "slash"),
    "tr": ("madde", "avro", "nokta", "et", "eğik çizgi"),
    "ar": ("المادة", "يورو", "نقطة", "آت", "شرطة مائلة"),
    "uk": ("параграф", "євро", "крапка", "ет", "скісна риска"),
    "ru": ("параграф", "евро", "точка", "эт", "слэш"),
    "fa": ("ماده", "یورو", "نقطه", "اَت", "اسلش"),
    "ps": ("ماده", "یورو", "ټکی", "اَت", "اسلش"),
    "ku": ("paragraf", "euro", "xal", "et", "xêza xwar"),
    "ti": ("ዓንቀጽ", "ዩሮ", "ነጥቢ", "ኣት", "ስላሽ"),
    "so": ("qodobka", "yuuro", "dhibic", "at", "slash"),
    "sq": ("paragrafi", "euro", "pikë", "et", "vijë e pjerrët"),
    "sr": ("paragraf", "evra", "tačka", "et", "kosa crta"),
    "ro": ("paragraful", "euro", "punct", "at", "slash"),
    "pl": ("paragraf", "euro", "kropka", "małpa", "ukośnik"),
    "fr": ("paragraphe", "euros", "point", "arobase", "barre oblique"),
    "es": ("párrafo", "euros", "punto", "arroba", "barra"),
    "vi": ("điều", "euro", "chấm", "a còng", "gạch chéo"),
    "zh": ("第", "欧元", "点", "at", "斜杠"),
}

# German law abbreviations, spoken as their German names in every language (callers meet them so)
_LAWS = {
    "AufenthG": "Aufenthaltsgesetz",
    "AufenthV": "Aufenthaltsverordnung",
    "StAG": "Staatsangehörigkeitsgesetz",
    "AsylG": "Asylgesetz",
    "BeschV": "Beschäftigungsverordnung",
    "FreizügG/EU": "Freizügigkeitsgesetz EU",
    "BMG": "Bundesmeldegesetz",
    "DSGVO": "Datenschutz-Grundverordnung",
    "BQFG": "Berufsqualifikationsfeststellungsgesetz",
}
_GERMAN_ABBREV = {
    "Abs.": "Absatz",
    "Nr.": "Nummer",
    "S.": "Satz",
    "z. B.": "zum Beispiel",
    "ggf.": "gegebenenfalls",
    "bzw.": "beziehungsweise",
    "usw.": "und so weiter",
    "ca.": "circa",
}

_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_URL = re.compile(r"\b(?:https?://)?(?:www\.)?[\w-]+(?:\.[\w-]+)*\.(?:de|eu|com|org|net|example)(?:/[\w./-]*)?")
_PHONE = re.compile(r"\+?\d[\d ]{6,}\d")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_EUR = re.compile(r"(\d[\d.,]*)\s*(?:€|EUR\b)")
_SECTIONS = re.compile(r"§§?\s*")


def _words(language: str) -> tuple[str, str, str, str, str]:
    return _WORDS.get(language, _WORDS["en"])


def _spell_address(text: str, language: str) -> str:
    _, _, dot, at, slash = _words(language)
    text = re.sub(r"^https?://", "", text)
    text = text.replace("@", f" {at} ").replace(".", f" {dot} ").replace("/", f" {slash} ")
    return re.sub(r"\s+", " ", text).strip()


def _digits(match: re.Match[str]) -> str:
    raw = match.group(0)
    plus = "plus " if raw.startswith("+") else ""
    digits = [d for d in raw if d.isdigit()]
    return plus + " ".join(digits)


def speakable(text: str, language: str) -> str:
    """Rewrite ``text`` (in ``language``) so that a TTS voice reads it correctly."""
    section, euro, _, _, _ = _words(language)
    text = _EMAIL.sub(lambda m: _spell_address(m.group(0), language), text)
    text = _URL.sub(lambda m: _spell_address(m.group(0), language), text)
    text = _PHONE.sub(_digits, text)
    text = _ISO_DATE.sub(lambda m: f"{int(m.group(3))}.{int(m.group(2))}.{m.group(1)}", text)
    text = _EUR.sub(lambda m: f"{m.group(1)} {euro}", text)
    text = _SECTIONS.sub(f"{section} ", text)
    for abbrev, full in _LAWS.items():
        text = text.replace(abbrev, full)
    if language == "de":
        for abbrev, full in _GERMAN_ABBREV.items():
            text = text.replace(abbrev, full)
    else:
        text = text.replace("Abs.", "Absatz")
    return re.sub(r"\s+", " ", text).strip()
