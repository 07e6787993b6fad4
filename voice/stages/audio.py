"""Decoding what phones deliver, resampling, and writing telephone WAV files.

Accepted: WAV (PCM, float, G.711 mu-law/A-law), MP3, FLAC, Ogg (Vorbis/Opus), headerless G.711 files
(``.ulaw``/``.mulaw``/``.alaw``, 8 kHz), any sample rate, mono or multi-channel (Twilio's
dual-channel recordings: pick the caller's channel). Everything ends up as mono float32.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from voice.core.domain import AudioClip, FloatArray
from voice.stages import g711

log = logging.getLogger(__name__)

WHISPER_RATE = 16000
PHONE_RATE = 8000
_RAW_G711 = {".ulaw": g711.mulaw_decode, ".mulaw": g711.mulaw_decode, ".alaw": g711.alaw_decode}


class AudioDecodeError(ValueError):
    """The input is not audio this hotline can read. The message says why, for the caller's logs."""


def load_audio(source: str | os.PathLike[str] | bytes, channel: int = 0) -> AudioClip:
    """Decode a file (path) or an in-memory file (bytes) to mono float32 at its own rate.

    Args:
        source: Path or the file's bytes.
        channel: Channel to keep from multi-channel audio (Twilio dual-channel: 0 is the caller).

    Raises:
        AudioDecodeError: For missing, empty, truncated or non-audio input.
    """
    if isinstance(source, (bytes, bytearray)):
        data, name = bytes(source), "<bytes>"
    else:
        path = Path(source)
        if not path.is_file():
            raise AudioDecodeError(f"{path}: no such file")
        decode_raw = _RAW_G711.get(path.suffix.lower())
        data, name = path.read_bytes(), str(path)
        if decode_raw is not None:
            if not data:
                raise AudioDecodeError(f"{name}: empty file")
            return AudioClip(decode_raw(data), PHONE_RATE)
    if not data:
        raise AudioDecodeError(f"{name}: empty file")
    samples, rate = _decode(data, name)
    if samples.ndim == 2:
        if not 0 <= channel < samples.shape[1]:
            raise AudioDecodeError(f"{name}: has {samples.shape[1]} channel(s), asked for {channel}")
        samples = samples[:, channel]
    if samples.size == 0:
        raise AudioDecodeError(f"{name}: contains no audio samples")
    if not np.all(np.isfinite(samples)):
        raise AudioDecodeError(f"{name}: contains invalid sample values")
    return AudioClip(np.ascontiguousarray(samples, dtype=np.float32), int(rate))


def _decode(data: bytes, name: str) -> tuple[FloatArray, int]:
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
        return samples, int(rate)
    except (sf.LibsndfileError, RuntimeError, TypeError) as sf_error:
        first_error = str(sf_error)
    return _decode_with_av(data, name, first_error)


def _decode_with_av(data: bytes, name: str, first_error: str) -> tuple[FloatArray, int]:
    """Second decoder (FFmpeg via PyAV, shipped with faster-whisper) for Opus and odd containers."""
    import av  # imported here: only needed for formats libsndfile cannot read

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AudioDecodeError(f"{name}: no audio stream")
            stream = container.streams.audio[0]
            chunks = [f.to_ndarray() for f in container.decode(stream)]
            rate = stream.codec_context.sample_rate
    except AudioDecodeError:
        raise
    except Exception as exc:  # PyAV raises many error types for garbage input
        log.debug("decoders failed on %s: libsndfile: %s; ffmpeg: %s", name, first_error, exc)
        raise AudioDecodeError(f"{name}: unreadable audio (not a complete audio file)") from exc
    if not chunks or not rate:
        raise AudioDecodeError(f"{name}: unreadable audio (no decodable frames)")
    planar = np.concatenate([_planar(c) for c in chunks], axis=1)
    return planar.T.astype(np.float32), int(rate)


def _planar(chunk: np.ndarray) -> FloatArray:
    arr = chunk.astype(np.float32)
    if np.issubdtype(chunk.dtype, np.integer):
        arr /= float(np.iinfo(chunk.dtype).max) + 1.0
    return arr if arr.ndim == 2 else arr[np.newaxis, :]


def resample(clip: AudioClip, rate: int) -> AudioClip:
    """Resample with a proper anti-aliasing filter (soxr, high quality)."""
    if clip.sample_rate == rate:
        return clip
    out = soxr.resample(clip.samples, clip.sample_rate, rate, quality="HQ")
    return AudioClip(np.asarray(out, dtype=np.float32), rate)


def to_whisper(clip: AudioClip) -> AudioClip:
    """Mono float32 at 16 kHz, as Whisper expects."""
    return resample(clip, WHISPER_RATE)


def phone_roundtrip(clip: AudioClip, codec: str = "ulaw") -> AudioClip:
    """What a caller's voice sounds like after the phone network: 8 kHz, G.711 encoded and decoded."""
    narrow = resample(clip, PHONE_RATE)
    if codec == "ulaw":
        return AudioClip(g711.mulaw_decode(g711.mulaw_encode(narrow.samples)), PHONE_RATE)
    if codec == "alaw":
        return AudioClip(g711.alaw_decode(g711.alaw_encode(narrow.samples)), PHONE_RATE)
    raise ValueError(f"unknown codec {codec!r}; expected 'ulaw' or 'alaw'")


def wav_bytes(clip: AudioClip, fmt: str) -> bytes:
    """Encode as a WAV file: ``ulaw8k`` (telephone) or ``pcm16k`` (16 kHz 16-bit)."""
    if fmt == "ulaw8k":
        clip, subtype = resample(clip, PHONE_RATE), "ULAW"
    elif fmt == "pcm16k":
        clip, subtype = resample(clip, WHISPER_RATE), "PCM_16"
    else:
        raise ValueError(f"unknown audio format {fmt!r}; expected 'ulaw8k' or 'pcm16k'")
    buf = io.BytesIO()
    sf.write(buf, np.clip(clip.samples, -1.0, 1.0), clip.sample_rate, subtype=subtype, format="WAV")
    return buf.getvalue()


def join_wavs(wavs: list[bytes], rate: int = WHISPER_RATE, pause_s: float = 0.25) -> AudioClip:
    """Concatenate WAV files (any rate) into one clip at ``rate``, with a short pause after each."""
    pause = np.zeros(int(pause_s * rate), dtype=np.float32)
    pieces: list[FloatArray] = []
    for data in wavs:
        samples, source_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
        if samples.ndim == 2:
            samples = samples[:, 0]
        clip = resample(AudioClip(np.asarray(samples, dtype=np.float32), int(source_rate)), rate)
        pieces.extend([clip.samples, pause])
    return AudioClip(np.concatenate(pieces) if pieces else np.zeros(rate // 10, dtype=np.float32), rate)


def write_wav(clip: AudioClip, path: Path) -> Path:
    """Write ``clip`` as 16-bit PCM WAV at its own rate (recordings keep what the line delivered)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.clip(clip.samples, -1.0, 1.0), clip.sample_rate, subtype="PCM_16", format="WAV")
    return path
