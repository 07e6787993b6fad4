"""Audio for a ``Play`` action as a stream of telephone audio (8 kHz mu-law bytes).

Cached items (every fixed prompt and pre-rendered answer) come from the audio cache at once; text that
is not cached is synthesised sentence by sentence, so the first sentence plays while the rest is made.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

from voice.core.engine_types import Play
from voice.runtime.phrases import Phrases
from voice.stages.tts.cache import CachedSynthesizer

_SENTENCE_END = re.compile(r"(?<=[.!?։。؟！？])\s+")


def sentences(text: str) -> list[str]:
    """Split text at sentence ends (the unit of incremental synthesis)."""
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]


def wav_payload(data: bytes) -> bytes:
    """The samples of a WAV file (its ``data`` chunk), whatever the encoding."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV file")
    pos = 12
    while pos + 8 <= len(data):
        tag, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if tag == b"data":
            return data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)
    raise ValueError("WAV file without a data chunk")


def play_audio(play: Play, phrases: Phrases, synthesizer: CachedSynthesizer) -> Iterator[bytes]:
    """Mu-law 8 kHz audio of each item of ``play``, in order, as soon as each piece is ready."""
    for item in play.items:
        text = phrases.text(item)
        hit = synthesizer.cached(text, item.language, "ulaw8k")
        if hit is not None:
            yield wav_payload(hit.data)
            continue
        for sentence in sentences(text) or [text]:
            yield wav_payload(synthesizer.render(sentence, item.language, "ulaw8k").data)
