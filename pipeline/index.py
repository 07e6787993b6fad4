"""Turning the knowledge base into embedded documents, cached on disk by content hash.

Every question paraphrase and every spoken answer, in every language, becomes one document; the
out-of-scope examples become documents of the pseudo-topic ``__out_of_scope__``. The same labelled
vectors train the topic classifier. Embedding thousands of short texts takes minutes on two cores, so
vectors and classifier are stored in ``<cache>/faq-index-<hash>.npz`` and reused as long as the
knowledge base (and the model settings) are unchanged. Below that, every text's vector is kept in
``<cache>/embeddings-<model>.npz`` keyed by a hash of the text, so a change to one entry re-embeds only
the texts that changed (seconds), and a first build shows a progress bar with its remaining time and
can be interrupted and resumed without losing what was embedded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from haystack import Document

from pipeline import classifier
from pipeline.embedders import MODEL_ID, E5DocumentEmbedder
from pipeline.knowledge import KnowledgeBase
from pipeline.result import OUT_OF_SCOPE
from pipeline.vector_cache import VectorCache

log = logging.getLogger(__name__)
_PLACEHOLDER = re.compile(r"\{[a-z_.0-9]+\}")


def kb_documents(kb: KnowledgeBase) -> list[Document]:
    """One document per question and per answer, in a deterministic order."""
    docs: list[Document] = []
    for entry in sorted(kb.entries.values(), key=lambda e: e.id):
        for lang, questions in sorted(entry.questions.items()):
            docs.extend(
                Document(content=q, meta={"topic": entry.id, "lang": lang, "kind": "question"}) for q in questions
            )
        for lang, text in sorted(entry.answers.items()):
            plain = _PLACEHOLDER.sub("", text)
            docs.append(Document(content=plain, meta={"topic": entry.id, "lang": lang, "kind": "answer"}))
    for lang, questions in sorted(kb.out_of_scope.items()):
        docs.extend(
            Document(content=q, meta={"topic": OUT_OF_SCOPE, "lang": lang, "kind": "question"}) for q in questions
        )
    return docs


def _cache_key(kb: KnowledgeBase, docs: list[Document]) -> str:
    training = f"{classifier.SCALE}/{classifier.L2}/{classifier.ITERATIONS}/centred"
    parts = f"{MODEL_ID}\0{kb.content_hash}\0{len(docs)}\0{training}"
    return hashlib.sha256(parts.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class FaqIndex:
    """Everything retrieval needs at query time: the embedded texts (one row each, with its topic,
    kind and language), the texts themselves (for word overlap) and the topic classifier."""

    vectors: np.ndarray
    topics: tuple[str, ...]
    kinds: tuple[str, ...]
    languages: tuple[str, ...]
    model: classifier.TopicModel
    texts: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.topics)


def build_index(kb: KnowledgeBase, cache_dir: Path | None, embedder: E5DocumentEmbedder | None = None) -> FaqIndex:
    """Embed every knowledge-base document and train the classifier, or load both from the cache."""
    docs = kb_documents(kb)
    cache = cache_dir / f"faq-index-{_cache_key(kb, docs)}.npz" if cache_dir else None
    cached = _load(cache, len(docs)) if cache else None
    if cached is None:
        started = time.perf_counter()
        vectors = embed_documents(docs, cache_dir, embedder or E5DocumentEmbedder())
        model = classifier.train(vectors, [str(d.meta["topic"]) for d in docs])
        log.info("index built in %.1fs", time.perf_counter() - started)
        if cache:
            _save(cache, vectors, model)
    else:
        vectors, model = cached
    meta = [(str(d.meta["topic"]), str(d.meta["kind"]), str(d.meta["lang"])) for d in docs]
    topics, kinds, languages = (tuple(column) for column in zip(*meta, strict=True))
    texts = tuple(str(d.content) for d in docs)
    return FaqIndex(vectors.astype(np.float32), topics, kinds, languages, model, texts)


def embed_documents(docs: list[Document], cache_dir: Path | None, embedder: E5DocumentEmbedder) -> np.ndarray:
    """Vectors of ``docs`` in order: from the per-text cache where known, the rest embedded with a
    progress bar (on stderr) and saved every few batches."""
    cache = VectorCache(cache_dir / f"embeddings-{_slug(MODEL_ID)}.npz" if cache_dir else None)
    keys = [VectorCache.key(str(d.meta["kind"]), d.content or "") for d in docs]
    missing = [i for i, k in enumerate(keys) if k not in cache]
    if missing:
        log.info("embedding %d of %d knowledge-base texts (the rest are cached)", len(missing), len(docs))
        _embed_missing(docs, keys, missing, cache, embedder)
    return np.asarray([cache[k] for k in keys], dtype=np.float32)


def _embed_missing(
    docs: list[Document], keys: list[str], missing: list[int], cache: VectorCache, embedder: E5DocumentEmbedder
) -> None:
    from tqdm import tqdm

    batch = embedder.batch_size
    with tqdm(total=len(missing), desc="embedding the knowledge base", unit="text", smoothing=0.1) as bar:
        try:
            for n, start in enumerate(range(0, len(missing), batch), start=1):
                rows = missing[start : start + batch]
                embedded = embedder.run(documents=[docs[i] for i in rows])["documents"]
                by_id = {d.id: d.embedding for d in embedded}
                for i in rows:
                    cache[keys[i]] = np.asarray(by_id[docs[i].id], dtype=np.float32)
                bar.update(len(rows))
                if n % 20 == 0:
                    cache.save()
        finally:
            cache.save()  # an interrupted build keeps what it embedded


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text)


def _load(path: Path, count: int) -> tuple[np.ndarray, classifier.TopicModel] | None:
    try:
        with np.load(path) as data:
            vectors = data["vectors"]
            model = classifier.TopicModel(data["weights"], data["bias"], tuple(str(t) for t in data["topics"]))
    except (OSError, KeyError, ValueError):
        return None
    if vectors.shape[0] != count:
        log.warning("index cache %s does not match the knowledge base; rebuilding", path)
        return None
    return vectors, model


def _save(path: Path, vectors: np.ndarray, model: classifier.TopicModel) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, vectors=vectors, weights=model.weights, bias=model.bias, topics=np.array(model.topics))
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not write index cache %s (%s); it will be rebuilt next start", path, exc)
