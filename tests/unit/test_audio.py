"""G.711 codecs, decoding what phones deliver, resampling, telephone WAV output."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from voice.core.domain import AudioClip
from voice.stages import g711
from voice.stages.audio import AudioDecodeError, load_audio, phone_roundtrip, resample, wav_bytes

pytestmark = pytest.mark.unit


def sine(freq: float, rate: int, seconds: float = 0.5, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
def test_g711_roundtrip_keeps_signal(codec):
    x = sine(440, 8000)
    enc, dec = (g711.mulaw_encode, g711.mulaw_decode) if codec == "ulaw" else (g711.alaw_encode, g711.alaw_decode)
    data = enc(x)
    assert len(data) == len(x)
    y = dec(data)
    snr = 10 * np.log10(np.sum(x**2) / np.sum((x - y) ** 2))
    assert snr > 30  # G.711 gives ~38 dB on a loud sine


def test_g711_known_codes():
    assert g711.mulaw_encode(np.zeros(1)) == b"\xff"
    assert g711.alaw_encode(np.zeros(1)) == b"\xd5"
    codes = bytes(range(256))
    assert g711.alaw_encode(g711.alaw_decode(codes)) == codes
    # mu-law has two zeros (0x7f and 0xff); every other code survives a round trip
    assert [i for i, c in enumerate(g711.mulaw_encode(g711.mulaw_decode(codes))) if c != i] == [127]


def test_soundfile_agrees_with_our_mulaw():
    x = sine(300, 8000)
    buf = io.BytesIO()
    sf.write(buf, x, 8000, subtype="ULAW", format="WAV")
    ours = g711.mulaw_decode(g711.mulaw_encode(x))
    theirs = load_audio(buf.getvalue()).samples
    assert np.max(np.abs(ours - theirs)) < 1e-3


def test_resample_removes_content_above_nyquist():
    # a 6 kHz tone cannot exist at 8 kHz: a proper filter removes it instead of aliasing it to 2 kHz
    clip = resample(AudioClip(sine(6000, 16000), 16000), 8000)
    assert clip.sample_rate == 8000 and len(clip.samples) == 4000
    assert np.sqrt(np.mean(clip.samples[200:-200] ** 2)) < 0.01
    kept = resample(AudioClip(sine(1000, 16000), 16000), 8000)
    assert np.sqrt(np.mean(kept.samples[200:-200] ** 2)) > 0.3


def test_dual_channel_takes_the_requested_channel(tmp_path):
    caller, hotline = sine(300, 8000), np.zeros(4000, dtype=np.float32)
    path = tmp_path / "dual.wav"
    sf.write(path, np.stack([caller, hotline], axis=1), 8000, subtype="PCM_16")
    assert np.abs(load_audio(path, channel=0).samples).max() > 0.4
    assert np.abs(load_audio(path, channel=1).samples).max() == 0
    with pytest.raises(AudioDecodeError, match="2 channel"):
        load_audio(path, channel=2)


@pytest.mark.parametrize("suffix,encode", [(".ulaw", g711.mulaw_encode), (".alaw", g711.alaw_encode)])
def test_headerless_g711_files(tmp_path, suffix, encode):
    path = tmp_path / f"call{suffix}"
    path.write_bytes(encode(sine(440, 8000)))
    clip = load_audio(path)
    assert clip.sample_rate == 8000 and abs(clip.duration_s - 0.5) < 1e-6


@pytest.mark.parametrize("content", [b"", b"this is not audio at all", b"RIFF\x24\x00\x00\x00WAVEfmt "])
def test_garbage_gives_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioDecodeError, match="bad.wav"):
        load_audio(path)


def test_missing_file(tmp_path):
    with pytest.raises(AudioDecodeError, match="no such file"):
        load_audio(tmp_path / "nope.wav")


def test_phone_roundtrip_and_telephone_wav():
    clip = AudioClip(sine(440, 48000), 48000)
    narrow = phone_roundtrip(clip, "alaw")
    assert narrow.sample_rate == 8000
    data = wav_bytes(clip, "ulaw8k")
    info = sf.info(io.BytesIO(data))
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "ULAW")
    info16 = sf.info(io.BytesIO(wav_bytes(clip, "pcm16k")))
    assert (info16.samplerate, info16.subtype) == (16000, "PCM_16")
    with pytest.raises(ValueError):
        wav_bytes(clip, "mp3")
