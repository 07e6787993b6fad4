"""The hotline's languages and what each engine can do with them.

One table, read by speech recognition (which Whisper codes map to a hotline language), speech
synthesis (which eSpeak NG voice speaks it) and the call flow (what to do where an engine has a gap).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    """One supported caller language.

    Attributes:
        code: The hotline's code (ISO 639-1 where one exists).
        english_name: Name for logs and docs.
        whisper_codes: Whisper language tokens that count as this language (empty: Whisper has none).
        espeak_voice: eSpeak NG voice name, or None where the bundled set has no voice.
        speech_fallback: Language whose text *and* voice are used when this one has no offline voice.
    """

    code: str
    english_name: str
    whisper_codes: tuple[str, ...]
    espeak_voice: str | None
    speech_fallback: str | None = None

    @property
    def recognisable(self) -> bool:
        """Whether Whisper can transcribe this language at all."""
        return bool(self.whisper_codes)


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language("de", "German", ("de",), "de"),
        Language("en", "English", ("en",), "en"),
        Language("tr", "Turkish", ("tr",), "tr"),
        Language("ar", "Arabic", ("ar",), "ar"),
        Language("uk", "Ukrainian", ("uk",), "uk"),
        Language("ru", "Russian", ("ru",), "ru"),
        Language("fa", "Persian (Farsi, Dari)", ("fa",), "fa"),
        # Pashto: Whisper knows it, eSpeak NG has no voice. Many Pashto speakers from Afghanistan also
        # understand Dari, so the spoken fallback is Persian text read by the Persian voice. With Coqui TTS
        # installed and its MMS voice downloaded (tts_models/pus/fairseq/vits), Pashto is spoken itself.
        Language("ps", "Pashto", ("ps",), None, speech_fallback="fa"),
        # Kurmanji and Tigrinya: Whisper has neither; the call flow offers the keypad topic menu.
        Language("ku", "Kurdish (Kurmanji)", (), "ku"),
        Language("ti", "Tigrinya", (), "ti"),
        # Somali: no eSpeak NG voice; English is the most widely understood second language of callers.
        # With Coqui TTS and its MMS voice (tts_models/som/fairseq/vits), Somali is spoken itself.
        Language("so", "Somali", ("so",), None, speech_fallback="en"),
        Language("sq", "Albanian", ("sq",), "sq"),
        # Serbian, Croatian and Bosnian are one hotline language; Whisper tells them apart.
        Language("sr", "Serbian/Croatian/Bosnian", ("sr", "hr", "bs"), "sr"),
        Language("ro", "Romanian", ("ro",), "ro"),
        Language("pl", "Polish", ("pl",), "pl"),
        Language("fr", "French", ("fr",), "fr"),
        Language("es", "Spanish", ("es",), "es"),
        Language("vi", "Vietnamese", ("vi",), "vi"),
        Language("zh", "Chinese (Mandarin)", ("zh",), "cmn"),
    )
}

DEFAULT_LANGUAGE = "de"


def get_language(code: str) -> Language:
    """Return the language for a hotline code.

    Raises:
        KeyError: With the list of valid codes, for an unknown code.
    """
    try:
        return LANGUAGES[code]
    except KeyError:
        raise KeyError(f"unknown language {code!r}; expected one of {', '.join(LANGUAGES)}") from None


def whisper_to_hotline() -> dict[str, str]:
    """Map every Whisper language token we accept to its hotline language code."""
    return {w: lang.code for lang in LANGUAGES.values() for w in lang.whisper_codes}


def spoken_language(code: str, has_voice: Callable[[str], bool]) -> tuple[str, bool]:
    """The language actually spoken to a caller of ``code``.

    The rule: a language is spoken in itself when the synthesizer has a voice for it; otherwise in its
    documented ``speech_fallback`` (text *and* voice of that language, never one language's text with
    another's voice).

    Returns:
        The language to speak and whether the fallback was taken.

    Raises:
        LookupError: When neither the language nor its fallback has a voice.
    """
    if has_voice(code):
        return code, False
    fallback = get_language(code).speech_fallback
    if fallback and has_voice(fallback):
        return fallback, True
    raise LookupError(f"no voice for {code!r} and no usable fallback")
