"""A persistent map from a text's hash to its embedding: one ``.npz`` file, written atomically."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class VectorCache:
    """Embeddings by text hash. Without a path it is a plain in-memory map (nothing is written)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._vectors: dict[str, np.ndarray] = {}
        self._dirty = False
        if path is not None and path.is_file():
            self._read(path)

    @staticmethod
    def key(kind: str, text: str) -> str:
        """Passages and queries embed differently, so the kind is part of the key."""
        return hashlib.sha256(f"{kind}\0{text}".encode()).hexdigest()[:32]

    def __contains__(self, key: object) -> bool:
        return key in self._vectors

    def __getitem__(self, key: str) -> np.ndarray:
        return self._vectors[key]

    def __setitem__(self, key: str, vector: np.ndarray) -> None:
        self._vectors[key] = vector
        self._dirty = True

    def __len__(self) -> int:
        return len(self._vectors)

    def save(self) -> None:
        """Write the map if it changed (a failure is logged: the vectors are recomputed next time)."""
        if self.path is None or not self._dirty or not self._vectors:
            return
        keys = sorted(self._vectors)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".npz.tmp")
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, keys=np.array(keys), vectors=np.stack([self._vectors[k] for k in keys]))
            os.replace(tmp, self.path)
            self._dirty = False
        except OSError as exc:
            log.warning("could not write the embedding cache %s (%s)", self.path, exc)

    def _read(self, path: Path) -> None:
        try:
            with np.load(path) as data:
                keys, vectors = data["keys"], data["vectors"]
        except (OSError, KeyError, ValueError) as exc:
            log.warning("ignoring an unreadable embedding cache %s (%s)", path, exc)
            return
        self._vectors = {str(k): v.astype(np.float32) for k, v in zip(keys, vectors, strict=True)}
