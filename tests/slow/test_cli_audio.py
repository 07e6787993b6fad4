"""`transcribe` and `answer-audio` as a user runs them, on good and on bad audio."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SPEECH = ROOT / "tests" / "data" / "speech"


def app(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(1)
    files = {
        "empty": d / "empty.wav",
        "short": d / "short.wav",
        "silence": d / "silence.wav",
        "noise": d / "noise.wav",
        "truncated": d / "truncated.wav",
        "text": d / "notes.wav",
    }
    files["empty"].write_bytes(b"")
    sf.write(files["short"], (0.3 * rng.standard_normal(1600)).astype(np.float32), 8000, subtype="ULAW")
    sf.write(files["silence"], np.zeros(8000 * 30, dtype=np.float32), 8000, subtype="ULAW")
    sf.write(files["noise"], (0.3 * rng.standard_normal(8000 * 5)).astype(np.float32), 8000, subtype="PCM_16")
    buf = io.BytesIO()
    sf.write(buf, (0.3 * rng.standard_normal(8000 * 3)).astype(np.float32), 8000, subtype="PCM_16", format="WAV")
    files["truncated"].write_bytes(buf.getvalue()[:30])
    files["text"].write_text("Dies ist keine Audiodatei, sondern eine Notiz.\n")
    return files


EXPECTED = {"empty": 4, "short": 3, "silence": 3, "noise": 3, "truncated": 4, "text": 4}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_transcribe_bad_audio(bad_files, case):
    result = app("transcribe", "--json", str(bad_files[case]))
    assert result.returncode == EXPECTED[case], result.stderr
    assert "Traceback" not in result.stderr
    data = json.loads(result.stdout)
    assert data["no_speech"] is True and data["text"] == ""
    message = result.stderr if EXPECTED[case] == 4 else data["detail"]
    assert message.strip()


@pytest.mark.parametrize("case", ["empty", "silence", "text"])
def test_answer_audio_bad_audio_still_speaks_to_the_caller(bad_files, case, tmp_path):
    out = tmp_path / "heard.wav"
    result = app("answer-audio", "--json", str(bad_files[case]), "--out", str(out))
    assert result.returncode == EXPECTED[case]
    assert "Traceback" not in result.stderr
    data = json.loads(result.stdout)
    assert data["topic"] is None and data["no_speech"] is True
    # the caller hears a request to repeat, in German, as real audio
    assert data["heard"] and data["heard"][0]["language"] == "de"
    info = sf.info(out)
    assert info.samplerate == 16000 and info.duration > 1.0


def test_transcribe_real_clip_json():
    result = app("transcribe", "--json", str(SPEECH / "leopard_test_en.wav"))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["language"] == "en" and data["no_speech"] is False
    assert {"text", "language_probability", "duration_s", "asr_ms"} <= set(data)
    assert abs(data["duration_s"] - 5.86) < 0.1


def test_answer_audio_whole_turn(tmp_path):
    """A real German recording through ASR, retrieval and TTS: the path works end to end.

    The clip is not an immigration question, so the hotline must hand over rather than answer.
    """
    out = tmp_path / "answer.wav"
    result = app("answer-audio", "--json", str(SPEECH / "fleurs_de_004.ogg"), "--out", str(out), "--format", "ulaw8k")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["language"] == "de" and data["transcript"]
    assert data["handover"] is True and data["topic"] is None
    assert set(data["latency_ms"]) >= {"asr", "retrieval", "tts"}
    info = sf.info(out)
    assert (info.samplerate, info.subtype) == (8000, "ULAW") and info.duration > 2.0
