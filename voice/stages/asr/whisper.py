"""faster-whisper behind the ``Transcriber`` port.

Latency on a CPU is dominated by Whisper's encoder (one pass per 30 s window), so each window is
encoded exactly once: the encoder output serves both language detection (restricted to the hotline's
languages) and greedy decoding at temperature 0 with a token cap. The default temperature fallback of
``WhisperModel.transcribe`` re-decodes unclear audio up to five times and is not used.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voice.core.domain import AudioClip, FloatArray, SpeechStatus, Transcript
from voice.core.languages import get_language, whisper_to_hotline
from voice.stages.audio import WHISPER_RATE, to_whisper

log = logging.getLogger(__name__)

DEFAULT_VOCABULARY = (
    "Ausländerbehörde, Aufenthaltstitel, Aufenthaltserlaubnis, Niederlassungserlaubnis, "
    "Fiktionsbescheinigung, Blaue Karte EU, Einbürgerung, Duldung, Chancenkarte, Familiennachzug."
)


@dataclass(frozen=True)
class WhisperOptions:
    """Settings of the Whisper transcriber (see the README for the measured trade-offs).

    Attributes:
        model: ``base`` (bundled, multilingual), any faster-whisper model name, or a local directory.
        device: ``cpu``, ``cuda`` or ``auto``.
        compute_type: CTranslate2 compute type, ``int8`` on CPU.
        cpu_threads: Threads per transcription; 0 means one per core, at most 4 (a recognition alone
            gets every core; two at once share them, which measured nearly as fast as one thread each).
        workers: Transcriptions the model runs in parallel (CTranslate2's inter-op workers); the
            runtime sets it to its scheduler's slots, since with one worker the model serialises calls.
        beam_size: 1 (greedy) measured as accurate as 5 on short turns, and faster.
        max_new_tokens: Cap on generated tokens per 30 s window; bounds latency on garbage input.
        vocabulary: Domain words given to the decoder as a prompt; empty disables it.
        min_speech_s: Less voiced audio than this (after VAD) counts as no speech.
        no_speech_threshold: Whisper's no-speech probability above which a weak decode is dropped.
        log_prob_threshold: Average log-probability below which a decode counts as weak.
        compression_ratio_threshold: Above this the text is a repetition loop and is dropped.
        vad_threshold: Silero VAD speech probability threshold.
    """

    model: str = "base"
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 0
    workers: int = 1
    beam_size: int = 1
    max_new_tokens: int = 128
    vocabulary: str = DEFAULT_VOCABULARY
    min_speech_s: float = 0.3
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    vad_threshold: float = 0.5


class WhisperTranscriber:
    """Transcribes one finished utterance; cheap to construct, ``warm_up()`` loads the model once."""

    name = "faster-whisper"

    def __init__(self, options: WhisperOptions | None = None, model_dir: Path | None = None) -> None:
        self.options = options or WhisperOptions()
        self._model_dir = model_dir or Path("var/models")
        self._model: Any = None
        self._lock = threading.Lock()
        self._to_hotline = whisper_to_hotline()

    def warm_up(self) -> None:
        """Load the model (idempotent, thread-safe)."""
        with self._lock:
            if self._model is not None:
                return
            from faster_whisper import WhisperModel

            from voice.stages.asr.model_cache import resolve_model

            started = time.perf_counter()
            path = resolve_model(self.options.model, self._model_dir)
            self._model = WhisperModel(
                path,
                device=self.options.device,
                compute_type=self.options.compute_type,
                cpu_threads=self.options.cpu_threads or min(4, os.cpu_count() or 1),
                num_workers=self.options.workers,
            )
            log.info("whisper model %s loaded in %.2fs", self.options.model, time.perf_counter() - started)

    def transcribe(self, audio: AudioClip, language: str | None = None) -> Transcript:
        """Transcribe ``audio``; never raises for silence, noise or too-short input."""
        started = time.perf_counter()
        self.warm_up()
        clip = to_whisper(audio)
        duration = audio.duration_s

        def empty(detail: str, speech_s: float = 0.0) -> Transcript:
            return Transcript("", None, 0.0, duration, SpeechStatus.NO_SPEECH, detail, _ms(started), speech_s)

        if duration < 0.25:
            return empty(f"too short ({duration:.2f} s) to hold a question")
        if float(np.max(np.abs(clip.samples))) < 1e-3:
            return empty("silence")
        speech = self._voiced(clip.samples)
        speech_s = len(speech) / WHISPER_RATE
        if speech_s < self.options.min_speech_s:
            return empty("no speech detected", speech_s)
        decoded = self._decode(speech, language)
        if not decoded.text:
            return empty("no words recognised (noise or unclear speech)", speech_s)
        if echoes_vocabulary(decoded.text, self.options.vocabulary):
            return empty("recognition only repeated its vocabulary prompt (unclear speech)", speech_s)
        return Transcript(
            decoded.text,
            decoded.language,
            decoded.language_probability,
            duration,
            SpeechStatus.OK,
            "",
            _ms(started),
            speech_s,
            avg_logprob=round(decoded.avg_logprob, 4),
            no_speech_prob=round(decoded.no_speech_prob, 4),
            compression_ratio=round(get_compression_ratio(decoded.text), 3),
        )

    def _voiced(self, samples: FloatArray) -> FloatArray:
        from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

        vad = VadOptions(threshold=self.options.vad_threshold, min_silence_duration_ms=500, speech_pad_ms=200)
        stamps = get_speech_timestamps(samples, vad)
        if not stamps:
            return np.zeros(0, dtype=np.float32)
        chunks, _ = collect_chunks(samples, stamps)
        return np.concatenate(chunks).astype(np.float32)

    def _decode(self, speech: FloatArray, language: str | None) -> _Decoded:
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer

        model = self._model
        window = model.feature_extractor.n_samples  # 30 s
        pieces: list[_Piece] = []
        lang: str | None = None
        prob = 1.0
        whisper_code = ""
        tokenizer = None
        for start in range(0, len(speech), window):
            features = pad_or_trim(model.feature_extractor(speech[start : start + window]))
            encoded = model.encode(features)
            if tokenizer is None:
                lang, prob, whisper_code = self._language(encoded, language)
                tokenizer = Tokenizer(model.hf_tokenizer, True, task="transcribe", language=whisper_code)
            piece = self._generate(encoded, tokenizer)
            if piece.text:
                pieces.append(piece)
        tokens = sum(p.tokens for p in pieces)
        return _Decoded(
            " ".join(p.text for p in pieces).strip(),
            lang,
            prob,
            sum(p.avg_logprob * p.tokens for p in pieces) / tokens if tokens else 0.0,
            max((p.no_speech_prob for p in pieces), default=0.0),
        )

    def _language(self, encoded: Any, forced: str | None) -> tuple[str, float, str]:
        """Detect the language over the supported set only, on an encoder output already computed."""
        if forced is not None and get_language(forced).recognisable:
            return forced, 1.0, get_language(forced).whisper_codes[0]
        ranked = self._model.model.detect_language(encoded)[0]
        by_hotline: dict[str, float] = {}
        best_token: dict[str, tuple[str, float]] = {}
        for token, p in ranked:
            code = token[2:-2]
            hotline = self._to_hotline.get(code)
            if hotline is None:
                continue
            by_hotline[hotline] = by_hotline.get(hotline, 0.0) + p
            if p > best_token.get(hotline, ("", -1.0))[1]:
                best_token[hotline] = (code, p)
        total = sum(by_hotline.values())
        if total <= 0:
            return "de", 0.0, "de"
        hotline = max(by_hotline, key=lambda k: by_hotline[k])
        return hotline, by_hotline[hotline] / total, best_token[hotline][0]

    def _generate(self, encoded: Any, tokenizer: Any) -> _Piece:
        from faster_whisper.transcribe import get_suppressed_tokens

        opts = self.options
        prompt = self._model.get_prompt(tokenizer, [], without_timestamps=True, hotwords=opts.vocabulary or None)
        result = self._model.model.generate(
            encoded,
            [prompt],
            beam_size=opts.beam_size,
            max_length=min(len(prompt) + opts.max_new_tokens, self._model.max_length),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
        )[0]
        tokens = result.sequences_ids[0]
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        text = str(tokenizer.decode(tokens)).strip()
        weak = avg_logprob < opts.log_prob_threshold
        if result.no_speech_prob > opts.no_speech_threshold and weak:
            log.debug("dropped decode: no_speech_prob %.2f, logprob %.2f", result.no_speech_prob, avg_logprob)
            return _Piece("", 0, 0.0, result.no_speech_prob)
        if text and get_compression_ratio(text) > opts.compression_ratio_threshold:
            log.debug("dropped decode: repetition loop (%r)", text[:80])
            return _Piece("", 0, 0.0, result.no_speech_prob)
        return _Piece(text, max(len(tokens), 1), float(avg_logprob), float(result.no_speech_prob))


@dataclass(frozen=True)
class _Piece:
    """One 30 s window's decode and Whisper's confidence in it."""

    text: str
    tokens: int
    avg_logprob: float
    no_speech_prob: float


@dataclass(frozen=True)
class _Decoded:
    text: str
    language: str | None
    language_probability: float
    avg_logprob: float
    no_speech_prob: float


def echoes_vocabulary(text: str, vocabulary: str, share: float = 0.6) -> bool:
    """Whether a transcript is mostly the decoder's vocabulary prompt read back.

    On speech it cannot make out, Whisper tends to emit its prompt ("Niederlassungserlaubnis,
    Fiktionsbescheinigung, Duldung, …"), often with a confident score; such a transcript must not reach
    retrieval as if the caller had said it. A caller who names one term ("Blaue Karte EU?") is no echo.
    """
    words = re.findall(r"\w+", text.casefold())
    known = set(re.findall(r"\w+", vocabulary.casefold()))
    terms = [t.strip().casefold().rstrip(".") for t in vocabulary.split(",") if t.strip()]
    listed = sum(1 for term in terms if term in text.casefold())  # a list of terms, not one term asked about
    return listed >= 2 and sum(w in known for w in words) >= share * len(words)


def get_compression_ratio(text: str) -> float:
    """Whisper's repetition measure (text bytes over zlib-compressed bytes), as faster-whisper computes it."""
    from faster_whisper.transcribe import get_compression_ratio as ratio

    return float(ratio(text))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 1)
