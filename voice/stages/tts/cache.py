"""A content-addressed audio cache in front of any ``Synthesizer``.

The key is a SHA-256 over the voice's identity (engine, model, engine version, voice settings; see
``Synthesizer.identity``), language, output format and the speakable text, so a changed answer, voice
or engine never plays stale audio and an unchanged one is never synthesised twice. When a fallback
engine speaks instead of the first choice, the audio is filed under the fallback's identity. Files are
written atomically (temporary file, then rename); when the cache cannot be read or written the audio
is synthesised live instead.

With several nodes, a URL made on one node may be fetched from another whose cache lacks the file:
``recipes`` (in Redis) remembers the text behind each key, and a node that misses the file speaks it
again (the same voice gives the same key).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import soundfile as sf

from voice.core.domain import AudioClip, Speech
from voice.core.ports import Synthesizer
from voice.stages.audio import wav_bytes
from voice.stages.tts.normalize import speakable

log = logging.getLogger(__name__)

FORMATS = ("ulaw8k", "pcm16k")
_NORMALISER_VERSION = "1"


@dataclass(frozen=True)
class RenderedAudio:
    """A WAV file ready to play: its cache key, bytes, and where it lies (None if not cached)."""

    key: str
    data: bytes
    path: Path | None
    language: str
    cached: bool
    engine: str = ""  # the engine that spoke it


class Recipes(Protocol):
    """What text, language and format each cache key was made from (shared by the nodes of a cluster)."""

    def remember(self, key: str, text: str, language: str, fmt: str) -> None: ...
    def recall(self, key: str) -> tuple[str, str, str] | None: ...


class CachedSynthesizer:
    """Decorates a synthesizer with the on-disk cache in ``cache_dir``."""

    def __init__(self, inner: Synthesizer, cache_dir: Path, recipes: Recipes | None = None) -> None:
        self.inner = inner
        self.cache_dir = cache_dir
        self.name = inner.name
        self.recipes = recipes

    def warm_up(self) -> None:
        self.inner.warm_up()

    def has_voice(self, language: str) -> bool:
        return self.inner.has_voice(language)

    def key(self, text: str, language: str, fmt: str, identity: dict[str, object] | None = None) -> str:
        """The cache key of ``text`` spoken in ``language`` as ``fmt`` (by the voice ``identity``)."""
        parts = {
            **(self.inner.identity(language) if identity is None else identity),
            "language": language,
            "format": fmt,
            "normaliser": _NORMALISER_VERSION,
            "text": speakable(text, language),
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def path_for(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.wav"

    def lookup(self, key: str) -> Path | None:
        """The cached file for ``key``, if present (keys are hex, so no path tricks get through)."""
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            return None
        path = self.path_for(key)
        if path.is_file():
            return path
        recipe = self.recipes.recall(key) if self.recipes is not None else None
        if recipe is None:
            return None
        text, language, fmt = recipe  # made on another node: speak it here (same voice, same key)
        rendered = self.render(text, language, fmt)
        return rendered.path if rendered.key == key else None

    def render(self, text: str, language: str, fmt: str = "ulaw8k") -> RenderedAudio:
        """Return ``text`` as a WAV in ``fmt``, from the cache or freshly synthesised and stored."""
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
        identity, key, path = self._locate(text, language, fmt)
        engine = str(identity.get("engine", self.name))
        hit = self._read(key, path, language, engine)
        if self.recipes is not None:
            self.recipes.remember(key, text, language, fmt)
        if hit is not None:
            return hit
        speech = self.inner.synthesize(speakable(text, language), language)
        if speech.engine != engine:  # a fallback engine spoke: file the audio under that engine's identity
            identity_for = getattr(self.inner, "identity_for", None)
            identity = identity_for(speech.engine, language) if identity_for else {"engine": speech.engine}
            engine = speech.engine
            key = self.key(text, language, fmt, identity)
            path = self.path_for(key)
            if self.recipes is not None:
                self.recipes.remember(key, text, language, fmt)
        data = wav_bytes(speech.audio, fmt)
        stored = self._store(path, data)
        return RenderedAudio(key, data, path if stored else None, language, False, engine)

    def cached(self, text: str, language: str, fmt: str = "ulaw8k") -> RenderedAudio | None:
        """``text`` from the cache, or None when it would have to be synthesised."""
        identity, key, path = self._locate(text, language, fmt)
        return self._read(key, path, language, str(identity.get("engine", self.name)))

    def _locate(self, text: str, language: str, fmt: str) -> tuple[dict[str, object], str, Path]:
        self.inner.warm_up()  # the voice's identity (e.g. the engine version) is known once it is loaded
        identity = self.inner.identity(language)
        key = self.key(text, language, fmt, identity)
        return identity, key, self.path_for(key)

    def _read(self, key: str, path: Path, language: str, engine: str) -> RenderedAudio | None:
        try:
            return RenderedAudio(key, path.read_bytes(), path, language, True, engine)
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("audio cache unreadable (%s); synthesising live", exc)
            return None

    def synthesize(self, text: str, language: str) -> Speech:
        """The ``Synthesizer`` port, served from the 16 kHz cache entry."""
        rendered = self.render(text, language, "pcm16k")
        samples, rate = sf.read(io.BytesIO(rendered.data), dtype="float32")
        return Speech(AudioClip(np.asarray(samples, dtype=np.float32), rate), language, language, self.name)

    def _store(self, path: Path, data: bytes) -> bool:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
            return True
        except OSError as exc:
            log.warning("could not write audio cache %s (%s); serving live audio", path, exc)
            return False
