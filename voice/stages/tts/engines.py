"""Engine chains as the settings write them (``HOTLINE_TTS_ENGINE``, ``HOTLINE_TTS_LANGUAGE_ENGINES``):
parsed here, without the settings, so that the settings can check them and the factory build them."""

from __future__ import annotations

from voice.core.languages import LANGUAGES

ENGINES = ("coqui", "espeak")


def parse_engines(raw: str) -> tuple[str, ...]:
    """``"coqui"`` or ``"coqui,espeak"`` (also ``+``-separated) -> ("coqui", "espeak").

    eSpeak NG is appended when missing: it is the offline last resort of every chain.

    Raises:
        ValueError: For an unknown engine name.
    """
    names = tuple(dict.fromkeys(n.strip().lower() for n in raw.replace("+", ",").split(",") if n.strip()))
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        raise ValueError(f"unknown engine {', '.join(unknown)}; expected {' or '.join(ENGINES)}")
    return tuple(n for n in names if n != "espeak") + ("espeak",)


def parse_language_engines(raw: str) -> dict[str, tuple[str, ...]]:
    """``"zh=espeak, ps=coqui+espeak"`` -> {language: engine chain}.

    Raises:
        ValueError: For a malformed entry, an unknown language or engine.
    """
    out: dict[str, tuple[str, ...]] = {}
    for entry in raw.replace(";", ",").split(","):
        if not entry.strip():
            continue
        lang, sep, engines = entry.partition("=")
        lang = lang.strip()
        if not sep or lang not in LANGUAGES:
            raise ValueError(f"expected LANG=ENGINE[+ENGINE] with a hotline language, got {entry.strip()!r}")
        out[lang] = parse_engines(engines)
    return out
