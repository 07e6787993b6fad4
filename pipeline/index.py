"""Turning the knowledge base into embedded documents, cached on disk by content hash.

Every question paraphrase and every spoken answer, in every language, becomes one document; the
out-of-scope examples become documents of the pseudo-topic ``__out_of_scope__``. Embedding ~2,000
short texts takes a while on two cores, so the vectors are stored in ``<cache>/faq-index-<hash>.npz``
and reused as long as the knowledge base (and the model) are unchanged.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from haystack import Document
from haystack.document_stores.in_memory import InMemoryDocumentStore

from pipeline.embedders import MODEL_ID, E5DocumentEmbedder
from pipeline.knowledge import KnowledgeBase
from pipeline.result import OUT_OF_SCOPE

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
    digest = hashlib.sha256(f"{MODEL_ID}\0{kb.content_hash}\0{len(docs)}".encode())
    return digest.hexdigest()[:20]


def build_document_store(
    kb: KnowledgeBase, cache_dir: Path | None, embedder: E5DocumentEmbedder | None = None
) -> InMemoryDocumentStore:
    """An in-memory store holding every knowledge-base document with its embedding."""
    docs = kb_documents(kb)
    cache = cache_dir / f"faq-index-{_cache_key(kb, docs)}.npz" if cache_dir else None
    vectors = _load_vectors(cache, len(docs)) if cache else None
    if vectors is None:
        started = time.perf_counter()
        log.info("embedding %d knowledge-base documents (one-off, cached afterwards)", len(docs))
        embedder = embedder or E5DocumentEmbedder()
        embedded = embedder.run(documents=docs)["documents"]
        by_id = {d.id: d.embedding for d in embedded}
        vectors = np.asarray([by_id[d.id] for d in docs], dtype=np.float32)
        log.info("index built in %.1fs", time.perf_counter() - started)
        if cache:
            _save_vectors(cache, vectors)
    embedded_docs = [replace(doc, embedding=vec.tolist()) for doc, vec in zip(docs, vectors, strict=True)]
    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    store.write_documents(embedded_docs)
    return store


def _load_vectors(path: Path, count: int) -> np.ndarray | None:
    try:
        with np.load(path) as data:
            vectors = data["vectors"]
    except (OSError, KeyError, ValueError):
        return None
    if vectors.shape[0] != count:
        log.warning("index cache %s does not match the knowledge base; rebuilding", path)
        return None
    return vectors


def _save_vectors(path: Path, vectors: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, vectors=vectors)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not write index cache %s (%s); it will be rebuilt next start", path, exc)
