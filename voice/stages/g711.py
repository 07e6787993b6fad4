"""G.711 mu-law and A-law codecs (ITU-T G.711), vectorised with numpy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_BIAS = 0x84
_CLIP = 32635


def _to_int16(samples: npt.NDArray[np.floating]) -> npt.NDArray[np.int32]:
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int32)


def mulaw_encode(samples: npt.NDArray[np.floating]) -> bytes:
    """Encode float samples in [-1, 1] to mu-law bytes."""
    pcm = _to_int16(samples)
    sign = np.where(pcm < 0, 0x80, 0)
    mag = np.minimum(np.abs(pcm), _CLIP) + _BIAS
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def mulaw_decode(data: bytes) -> npt.NDArray[np.float32]:
    """Decode mu-law bytes to float samples in [-1, 1]."""
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    mag = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    pcm = np.where(sign != 0, -mag, mag)
    return (pcm / 32768.0).astype(np.float32)


def alaw_encode(samples: npt.NDArray[np.floating]) -> bytes:
    """Encode float samples in [-1, 1] to A-law bytes."""
    pcm = _to_int16(samples) >> 3  # 13-bit
    sign = np.where(pcm >= 0, 0x80, 0)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    mag = np.minimum(mag, 0x0FFF)
    exponent = np.where(mag < 32, 0, np.floor(np.log2(np.maximum(mag, 1))).astype(np.int32) - 4)
    exponent = np.clip(exponent, 0, 7)
    mantissa = np.where(exponent == 0, mag >> 1, mag >> exponent) & 0x0F
    code = sign | (exponent << 4) | mantissa
    return ((code ^ 0x55) & 0xFF).astype(np.uint8).tobytes()


def alaw_decode(data: bytes) -> npt.NDArray[np.float32]:
    """Decode A-law bytes to float samples in [-1, 1]."""
    a = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    sign = a & 0x80
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    mag = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    pcm = np.where(sign != 0, mag, -mag)
    return (pcm / 32768.0).astype(np.float32)
