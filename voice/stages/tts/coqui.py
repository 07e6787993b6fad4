"""Natural voices through Coqui TTS (the maintained ``coqui-tts`` package), one model per language.

Optional: ``coqui-tts`` pulls PyTorch (several GB), so it lives in ``requirements-coqui.txt`` and is
imported only when a Coqui voice is first loaded. Each hotline language maps to a *voice spec*:

- a catalogue name such as ``tts_models/de/thorsten/vits``, the MMS voices
  ``tts_models/<iso639-3>/fairseq/vits`` or ``tts_models/multilingual/multi-dataset/xtts_v2``, looked
  up in the models directory (same layout as Coqui's ``TTS_HOME``) and downloaded there only when
  downloads are allowed;
- or a local model directory or checkpoint file (``config.json`` beside it), e.g. a fine-tuned voice.

A spec may name a speaker after ``#`` (multi-speaker models, XTTS-v2's built-in voices), e.g.
``tts_models/multilingual/multi-dataset/xtts_v2#Ana Florence``. Models load once and are shared by
the languages that use them; a model that fails to load is reported by ``has_voice`` as missing, so
the engine chain (``voice.stages.tts.chain``) falls back to the next engine.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voice.core.domain import AudioClip, Speech
from voice.core.ports import NoVoiceError

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "Coqui TTS is not installed in this environment: run `make setup-coqui` "
    "(or `pip install -r requirements-coqui.txt`) and start the hotline from .venv-coqui"
)
# Documented default voices (README, "Natural voices"): German with an Apache-2.0 VITS voice, and the
# two languages eSpeak NG cannot speak with Meta's MMS voices (CC BY-NC 4.0: non-commercial).
DEFAULT_VOICES: dict[str, str] = {
    "de": "tts_models/de/thorsten/vits",
    "ps": "tts_models/pus/fairseq/vits",
    "so": "tts_models/som/fairseq/vits",
}
# XTTS-v2 names some languages differently from the hotline
_XTTS_LANGUAGE = {"zh": "zh-cn"}
_CHECKPOINT_NAMES = ("model.pth", "model_file.pth", "model_file.pth.tar", "checkpoint.pth", "best_model.pth")


class VoiceUnavailable(RuntimeError):
    """A configured Coqui voice cannot be loaded (package missing, model not downloaded, broken files)."""


@dataclass(frozen=True)
class VoiceSpec:
    """One configured voice: a catalogue name or a local path, and an optional speaker."""

    model: str
    speaker: str = ""

    @classmethod
    def parse(cls, raw: str) -> VoiceSpec:
        model, _, speaker = raw.strip().partition("#")
        return cls(model.strip(), speaker.strip())

    @property
    def is_catalogue_name(self) -> bool:
        parts = self.model.split("/")
        return len(parts) == 4 and parts[0] == "tts_models" and not Path(self.model).exists()

    def __str__(self) -> str:
        return f"{self.model}#{self.speaker}" if self.speaker else self.model


def parse_voice_map(raw: str) -> dict[str, VoiceSpec]:
    """``"de=tts_models/de/thorsten/vits, ps=/srv/voices/pashto"`` -> {language: VoiceSpec}.

    Raises:
        ValueError: For an entry without ``=`` or with an empty side.
    """
    out: dict[str, VoiceSpec] = {}
    for entry in raw.replace(";", ",").split(","):
        if not entry.strip():
            continue
        lang, sep, spec = entry.partition("=")
        if not sep or not lang.strip() or not spec.strip():
            raise ValueError(f"expected LANG=MODEL, got {entry.strip()!r}")
        out[lang.strip()] = VoiceSpec.parse(spec)
    return out


def coqui_installed() -> bool:
    """Whether the ``TTS`` package can be imported (checked without importing PyTorch)."""
    import importlib.util

    return importlib.util.find_spec("TTS") is not None


def catalogue_dir(models_dir: Path, name: str) -> Path:
    """Where a catalogue model lies under ``models_dir`` (Coqui's own ``TTS_HOME`` layout)."""
    return models_dir / "tts" / name.replace("/", "--")


class CoquiSynthesizer:
    """Speech from Coqui TTS models, one voice per hotline language.

    Args:
        voices: Hotline language -> voice spec.
        models_dir: Where catalogue models lie (and are downloaded to when ``download`` is true).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        download: Whether a missing catalogue model may be fetched from the internet.
    """

    name = "coqui"

    def __init__(
        self,
        voices: Mapping[str, VoiceSpec | str],
        models_dir: Path = Path("var/coqui"),
        device: str = "auto",
        download: bool = False,
    ) -> None:
        self.voices = {lang: v if isinstance(v, VoiceSpec) else VoiceSpec.parse(v) for lang, v in voices.items()}
        self.models_dir = models_dir
        self.device = device
        self.download = download
        self.version = ""
        self._lock = threading.RLock()
        self._models: dict[str, Any] = {}  # model spec -> loaded TTS object
        self._failed: dict[str, str] = {}  # model spec -> why it could not be loaded
        self._fingerprints: dict[str, str] = {}

    def warm_up(self) -> None:
        """Load every configured voice once; a voice that fails is logged and left to the fallback."""
        for lang in self.voices:
            self.has_voice(lang)

    def has_voice(self, language: str) -> bool:
        spec = self.voices.get(language)
        if spec is None:
            return False
        try:
            self._model(spec.model)
        except VoiceUnavailable:
            return False
        return True

    def failure(self, language: str) -> str | None:
        """Why the voice of ``language`` could not be loaded (None if it loaded or was never tried)."""
        spec = self.voices.get(language)
        return self._failed.get(spec.model) if spec else None

    def identity(self, language: str) -> dict[str, object]:
        spec = self.voices.get(language)
        if spec is None:
            return {"engine": self.name}
        return {
            "engine": self.name,
            "version": self._package_version(),
            "model": spec.model,
            "speaker": spec.speaker,
            "fingerprint": self._fingerprint(spec.model),
        }

    def synthesize(self, text: str, language: str) -> Speech:
        spec = self.voices.get(language)
        if spec is None:
            raise NoVoiceError(f"no Coqui voice configured for {language!r}")
        try:
            tts = self._model(spec.model)
        except VoiceUnavailable as exc:
            raise NoVoiceError(str(exc)) from exc
        kwargs: dict[str, Any] = {}
        if spec.speaker:
            kwargs["speaker"] = spec.speaker
        if getattr(tts, "is_multi_lingual", False):
            kwargs["language"] = _XTTS_LANGUAGE.get(language, language)
        with self._lock:  # one synthesis per model at a time (PyTorch modules are not re-entrant here)
            wav = tts.tts(text, **kwargs)
            rate = int(tts.synthesizer.output_sample_rate)
        samples = np.clip(np.asarray(wav, dtype=np.float32).reshape(-1), -1.0, 1.0)
        return Speech(AudioClip(samples, rate), language, str(spec), self.name)

    # loading

    def _model(self, model: str) -> Any:
        with self._lock:
            if model in self._models:
                return self._models[model]
            if model in self._failed:
                raise VoiceUnavailable(self._failed[model])
            try:
                loaded = self._load(model)
            except Exception as exc:  # any broken model means: this voice is unavailable
                reason = f"Coqui voice {model!r} unavailable: {exc}"
                self._failed[model] = reason
                log.warning("%s; the next engine speaks its languages", reason)
                raise VoiceUnavailable(reason) from exc
            self._models[model] = loaded
            return loaded

    def _load(self, model: str) -> Any:
        api = _import_api()
        self.version = self._package_version()
        spec = VoiceSpec(model)
        if spec.is_catalogue_name:
            checkpoint, config, vocoder, vocoder_config = self._resolve_catalogue(model)
        else:
            path = Path(model).expanduser()
            if not path.exists():
                raise VoiceUnavailable(f"{model}: no such model directory or file, and not a catalogue name")
            checkpoint, config = _local_files(path)
            vocoder = vocoder_config = None
        log.info("loading Coqui voice %s on %s", model, self._device())
        tts = api.TTS(
            model_path=str(checkpoint),
            config_path=str(config) if config else None,
            vocoder_path=str(vocoder) if vocoder else None,
            vocoder_config_path=str(vocoder_config) if vocoder_config else None,
            progress_bar=False,
        )
        return tts.to(self._device())

    def _resolve_catalogue(self, name: str) -> tuple[Path, Path | None, Path | None, Path | None]:
        from TTS.utils.manage import ModelManager  # type: ignore[import-not-found, unused-ignore]

        manager = ModelManager(output_prefix=self.models_dir, progress_bar=False)
        try:
            item, _, _ = manager._set_model_item(name)  # the catalogue entry (no network)
        except KeyError:
            raise VoiceUnavailable(f"{name}: not in the Coqui catalogue of coqui-tts {self.version}") from None
        local = catalogue_dir(self.models_dir, name)
        if not local.is_dir():
            if not self.download:
                raise VoiceUnavailable(
                    f"{name} is not downloaded to {local.parent}; pre-download it (README: natural voices) "
                    "or set HOTLINE_COQUI_DOWNLOAD=true where the server may reach the internet"
                )
            if item.get("tos_required") and os.environ.get("COQUI_TOS_AGREED") != "1":
                raise VoiceUnavailable(f"{name} requires accepting its licence: set COQUI_TOS_AGREED=1 (see README)")
            if "repo_id" in item:  # hub-hosted models (XTTS-v2): fetch into the models directory, not a hub cache
                from huggingface_hub import snapshot_download

                patterns = {"allow_patterns": item.get("allow"), "ignore_patterns": item.get("ignore")}
                snapshot_download(item["repo_id"], local_dir=local, **patterns)
        if "repo_id" in item:
            checkpoint, config = _local_files(local)
            return checkpoint, config, None, None
        checkpoint, config, _ = manager.download_model(name)  # present: only rewrites paths in its config
        vocoder = vocoder_config = None
        if item.get("default_vocoder"):
            vocoder_name = item["default_vocoder"]
            if not catalogue_dir(self.models_dir, vocoder_name).is_dir() and not self.download:
                raise VoiceUnavailable(f"{name} needs the vocoder {vocoder_name}, which is not downloaded")
            vocoder, vocoder_config, _ = manager.download_model(vocoder_name)
        return Path(checkpoint), Path(config) if config else None, vocoder, vocoder_config

    def _device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def _package_version(self) -> str:
        if not self.version:
            from importlib.metadata import PackageNotFoundError, version

            try:
                self.version = version("coqui-tts")
            except PackageNotFoundError:
                self.version = "not-installed"
        return self.version

    def _fingerprint(self, model: str) -> str:
        """Content fingerprint of a local model (its config and checkpoint), so replaced weights re-render."""
        if model not in self._fingerprints:
            path = Path(model).expanduser()
            if VoiceSpec(model).is_catalogue_name:
                path = catalogue_dir(self.models_dir, model)
            digest = hashlib.sha256()
            files = sorted(p for p in ([path] if path.is_file() else path.glob("*")) if p.is_file())
            for f in files:
                if f.suffix in (".json", ".pth", ".pt", ".tar", ".safetensors") or f.name.endswith(".pth.tar"):
                    digest.update(f.name.encode())
                    digest.update(_file_digest(f).encode())
            self._fingerprints[model] = digest.hexdigest()[:16] if files else ""
        return self._fingerprints[model]


def _import_api() -> Any:
    try:
        import TTS.api  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        raise VoiceUnavailable(f"{INSTALL_HINT} ({exc})") from exc
    return TTS.api


def _local_files(path: Path) -> tuple[Path, Path | None]:
    """The checkpoint to load and its config, for a model directory or checkpoint file.

    XTTS models load from their directory, all others from their checkpoint file. Coqui recognises MMS
    (fairseq) checkpoints by the word "fairseq" in their path, so keep it in the directory name.
    """
    if path.is_file():
        config = path.parent / "config.json"
        return path, config if config.is_file() else None
    config = path / "config.json"
    if config.is_file() and json.loads(config.read_text(encoding="utf-8")).get("model") == "xtts":
        return path, config
    for name in _CHECKPOINT_NAMES:
        if (path / name).is_file():
            return path / name, config if config.is_file() else None
    checkpoints = sorted(path.glob("*.pth")) + sorted(path.glob("*.pth.tar"))
    if len(checkpoints) == 1:
        return checkpoints[0], config if config.is_file() else None
    raise VoiceUnavailable(f"{path}: expected one checkpoint (*.pth) beside config.json, found {len(checkpoints)}")


def _file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 over size, first and last MiB: cheap on multi-GB checkpoints, changes when they change."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as fh:
        digest.update(fh.read(chunk))
        if size > 2 * chunk:
            fh.seek(-chunk, os.SEEK_END)
            digest.update(fh.read())
    return digest.hexdigest()
