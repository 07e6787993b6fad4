"""Coqui TTS through the real code path, offline: a tiny VITS model is built here and loaded like a download.

The model's weights are RANDOM (it is never trained), so it speaks noise. These tests check what the
hotline relies on: that a model directory or a catalogue model in the models directory loads through
Coqui's own loader (config, tokenizer, checkpoint, ``Synthesizer``), that the result is telephone audio
of plausible length, that the cache keys on engine, model and version, and that a voice that fails to
load falls back to eSpeak NG. Voice quality is not tested. Run with ``make test-coqui``.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
import soundfile as sf

pytest.importorskip("TTS.api", reason="Coqui TTS is not installed here (make setup-coqui / make test-coqui)")

from voice.core.languages import spoken_language  # noqa: E402
from voice.runtime.config import Settings  # noqa: E402
from voice.runtime.tts_factory import make_synthesizer  # noqa: E402
from voice.stages.audio import load_audio  # noqa: E402
from voice.stages.tts.cache import CachedSynthesizer  # noqa: E402
from voice.stages.tts.chain import EngineChain  # noqa: E402
from voice.stages.tts.coqui import CoquiSynthesizer, catalogue_dir  # noqa: E402
from voice.stages.tts.espeak import EspeakSynthesizer  # noqa: E402

pytestmark = pytest.mark.coqui
ROOT = Path(__file__).resolve().parents[2]
TEXT = "Guten Tag. Stellen Sie den Antrag rechtzeitig, am besten sechs Wochen vorher."


def build_tiny_vits(out: Path, seed: int = 0) -> Path:
    """Save a randomly initialised, ~5 MB VITS model (characters, no phonemizer) as model.pth + config.json."""
    import torch
    from TTS.tts.configs.shared_configs import CharactersConfig
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.models.vits import Vits, VitsArgs

    torch.manual_seed(seed)
    characters = CharactersConfig(
        characters_class="TTS.tts.utils.text.characters.Graphemes",
        pad="_",
        eos="",
        bos="",
        blank="<BLNK>",
        characters="abcdefghijklmnopqrstuvwxyzäöüßABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÜ0123456789",
        punctuations=" !,.?-:;",
        phonemes=None,
        is_unique=True,
        is_sorted=True,
    )
    args = VitsArgs(
        hidden_channels=16,
        hidden_channels_ffn_text_encoder=32,
        num_heads_text_encoder=2,
        num_layers_text_encoder=1,
        num_layers_flow=1,
        num_layers_posterior_encoder=1,
        init_discriminator=False,
        resblock_type_decoder="2",
        resblock_kernel_sizes_decoder=[3],
        resblock_dilation_sizes_decoder=[[1, 3]],
        upsample_rates_decoder=[8, 8, 4],  # product = hop length 256
        upsample_initial_channel_decoder=32,
        upsample_kernel_sizes_decoder=[16, 16, 8],
    )
    config = VitsConfig(
        model_args=args, use_phonemes=False, text_cleaner="multilingual_cleaners", characters=characters, add_blank=True
    )
    config.audio.sample_rate = 22050
    model = Vits.init_from_config(config)
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict()}, out / "model.pth")
    config.save_json(str(out / "config.json"))
    return out


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_vits(tmp_path_factory.mktemp("voices") / "tiny-de")


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory, tiny_model) -> Path:
    """A models directory holding the tiny model where a downloaded tts_models/de/thorsten/vits would lie."""
    import shutil

    root = tmp_path_factory.mktemp("coqui-models")
    shutil.copytree(tiny_model, catalogue_dir(root, "tts_models/de/thorsten/vits"))
    return root


@pytest.fixture(scope="module")
def espeak():
    synth = EspeakSynthesizer()
    synth.warm_up()
    return synth


def _assert_telephone_audio(data: bytes, min_s: float = 0.3, max_s: float = 30.0) -> None:
    info = sf.info(io.BytesIO(data))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "ULAW", 8000, 1)
    clip = load_audio(data)
    assert min_s < clip.duration_s < max_s, f"{clip.duration_s:.2f} s for a two-sentence text"
    assert abs(clip.samples).max() <= 1.0


def test_local_model_directory_speaks_telephone_audio_and_is_cached(tiny_model, tmp_path):
    coqui = CoquiSynthesizer({"de": str(tiny_model)}, models_dir=tmp_path / "none", device="cpu")
    assert coqui.has_voice("de") and not coqui.has_voice("fr")
    speech = coqui.synthesize(TEXT, "de")
    assert speech.engine == "coqui" and speech.audio.sample_rate == 22050  # the model's rate, resampled later
    cache = CachedSynthesizer(coqui, tmp_path / "audio")
    first = cache.render(TEXT, "de", "ulaw8k")
    assert not first.cached and first.engine == "coqui" and first.path is not None
    _assert_telephone_audio(first.data)
    wide = cache.render(TEXT, "de", "pcm16k")
    assert sf.info(io.BytesIO(wide.data)).samplerate == 16000
    again = cache.render(TEXT, "de", "ulaw8k")
    assert again.cached and again.key == first.key and again.data == first.data


def test_catalogue_name_loads_from_the_models_directory_without_network(models_dir, tmp_path):
    coqui = CoquiSynthesizer({"de": "tts_models/de/thorsten/vits"}, models_dir=models_dir, device="cpu")
    assert coqui.has_voice("de"), coqui.failure("de")
    identity = coqui.identity("de")
    assert identity["engine"] == "coqui" and identity["model"] == "tts_models/de/thorsten/vits"
    assert identity["version"] and identity["fingerprint"]
    _assert_telephone_audio(CachedSynthesizer(coqui, tmp_path).render(TEXT, "de", "ulaw8k").data)
    missing = CoquiSynthesizer({"fr": "tts_models/fr/css10/vits"}, models_dir=models_dir, device="cpu")
    assert not missing.has_voice("fr") and "not downloaded" in (missing.failure("fr") or "")


def test_cache_key_changes_with_engine_model_and_weights(tiny_model, tmp_path, espeak):
    other = build_tiny_vits(tmp_path / "other", seed=1)  # same layout, different weights
    a = CachedSynthesizer(CoquiSynthesizer({"de": str(tiny_model)}, device="cpu"), tmp_path / "audio")
    b = CachedSynthesizer(CoquiSynthesizer({"de": str(other)}, device="cpu"), tmp_path / "audio")
    e = CachedSynthesizer(espeak, tmp_path / "audio")
    keys = {c.key(TEXT, "de", "ulaw8k") for c in (a, b, e)}
    assert len(keys) == 3
    (other / "model.pth").write_bytes(b"retrained" + (other / "model.pth").read_bytes())
    c = CachedSynthesizer(CoquiSynthesizer({"de": str(other)}, device="cpu"), tmp_path / "audio")
    assert c.key(TEXT, "de", "ulaw8k") != b.key(TEXT, "de", "ulaw8k"), "replaced weights must re-render"


def test_a_voice_that_fails_to_load_falls_back_to_espeak_with_one_warning(tmp_path, espeak, caplog):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model": "vits", "audio": {"sample_rate": 22050}}))
    (broken / "model.pth").write_bytes(b"not a checkpoint")
    chain = EngineChain(
        {"coqui": CoquiSynthesizer({"de": str(broken)}, device="cpu"), "espeak": espeak}, ("coqui", "espeak")
    )
    cache = CachedSynthesizer(chain, tmp_path / "audio")
    with caplog.at_level(logging.WARNING):
        first = cache.render(TEXT, "de", "ulaw8k")
        second = cache.render("Noch ein Satz.", "de", "ulaw8k")
    assert first.engine == second.engine == "espeak-ng"
    _assert_telephone_audio(first.data)
    assert first.key == CachedSynthesizer(espeak, tmp_path / "audio").key(TEXT, "de", "ulaw8k")
    warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(warnings) == 1 and str(broken) in warnings[0].getMessage()


def test_pashto_is_spoken_in_pashto_when_its_coqui_voice_is_installed(tiny_model, tmp_path):
    settings = Settings.from_env(
        {},
        prompts_dir=ROOT / "prompts",
        office_profile=ROOT / "prompts/office.example.yaml",
        data_dir=tmp_path,
        coqui_voices=f"ps={tiny_model}",
        coqui_device="cpu",
    )
    synth = make_synthesizer(settings)  # default engine setting: eSpeak NG, Coqui only where eSpeak has no voice
    assert isinstance(synth, EngineChain) and synth.chain("ps") == ("coqui", "espeak")
    assert synth.chain("de") == ("espeak",)
    assert spoken_language("ps", synth.has_voice) == ("ps", False)
    assert spoken_language("so", synth.has_voice) == ("en", True)  # no Somali model here: documented fallback
    rendered = CachedSynthesizer(synth, tmp_path / "audio").render("سلام", "ps", "ulaw8k")
    assert rendered.engine == "coqui"


def test_without_models_the_default_settings_keep_plain_espeak(tmp_path):
    settings = Settings.from_env(
        {}, prompts_dir=ROOT / "prompts", office_profile=ROOT / "prompts/office.example.yaml", data_dir=tmp_path
    )
    assert isinstance(make_synthesizer(settings), EspeakSynthesizer)
