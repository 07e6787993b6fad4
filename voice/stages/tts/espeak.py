"""eSpeak NG through the library bundled by ``espeakng-loader`` (no system package needed).

eSpeak NG keeps voice parameters in process-global state and leaks them between voices, so the library
is re-initialised whenever the voice changes (under a lock; it costs well under a millisecond).
"""

from __future__ import annotations

import ctypes
import logging
import threading
from typing import Any

import numpy as np

from voice.core.domain import AudioClip, Speech
from voice.core.languages import LANGUAGES
from voice.core.ports import NoVoiceError

log = logging.getLogger(__name__)

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_RATE = 1
# eSpeak NG keeps one global state per process (voice, callback): every instance shares this lock, and
# the library is re-initialised whenever another instance or voice used it last
_ENGINE_LOCK = threading.Lock()
_ACTIVE: list[tuple[int, str] | None] = [None]
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakSynthesizer:
    """Offline speech in every hotline language that has an eSpeak NG voice.

    Args:
        rate_wpm: Speaking rate in words per minute; a little slower than eSpeak's 175 for the phone.
    """

    name = "espeak-ng"

    def __init__(self, rate_wpm: int = 150) -> None:
        self.rate_wpm = rate_wpm
        self._lib: Any = None
        self._lock = _ENGINE_LOCK
        self._voice: str | None = None
        self._sample_rate = 0
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)
        self.version = ""

    def warm_up(self) -> None:
        with self._lock:
            if self._lib is None:
                self._load()

    def has_voice(self, language: str) -> bool:
        lang = LANGUAGES.get(language)
        return lang is not None and lang.espeak_voice is not None

    def identity(self, language: str) -> dict[str, object]:
        # the same parts as before engines could be chained, so existing audio caches stay valid
        return {"engine": self.name, "version": self.version, "rate": self.rate_wpm}

    def synthesize(self, text: str, language: str) -> Speech:
        if not self.has_voice(language):
            raise NoVoiceError(f"eSpeak NG has no voice for {language!r}")
        voice = LANGUAGES[language].espeak_voice
        assert voice is not None
        with self._lock:
            if self._lib is None:
                self._load()
            if _ACTIVE[0] != (id(self), voice):  # another voice, or another instance, used the library last
                self._init_voice(voice)
            self._chunks = []
            data = text.encode("utf-8")
            err = self._lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, _CHARS_UTF8, None, None)
            if err != 0:
                raise RuntimeError(f"espeak_Synth failed with code {err}")
            self._lib.espeak_Synchronize()
            pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)
        samples = (pcm.astype(np.float32) / 32768.0).astype(np.float32)
        return Speech(AudioClip(samples, self._sample_rate), language, voice, self.name)

    def _load(self) -> None:
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self._lib.espeak_Info.restype = ctypes.c_char_p
        self._lib.espeak_Info.argtypes = [ctypes.c_void_p]
        self._data_path = espeakng_loader.get_data_path().encode()
        self._voice = None
        self._init_voice("de")
        self.version = (self._lib.espeak_Info(None) or b"").decode()
        log.info("eSpeak NG %s ready (%d Hz)", self.version, self._sample_rate)

    def _init_voice(self, voice: str) -> None:
        if _ACTIVE[0] is not None:
            self._lib.espeak_Terminate()
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self._data_path, 0)
        if rate <= 0:
            raise RuntimeError("espeak_Initialize failed; is espeakng-loader installed completely?")
        self._sample_rate = rate
        self._lib.espeak_SetSynthCallback(self._callback)
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise NoVoiceError(f"eSpeak NG voice {voice!r} is missing from the bundled data")
        self._lib.espeak_SetParameter(_RATE, self.rate_wpm, 0)
        self._voice = voice
        _ACTIVE[0] = (id(self), voice)

    def _collect(self, wav: Any, count: int, _events: Any) -> int:
        if count > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0
