"""Word-overlap evidence per topic: BM25 over the knowledge base's question paraphrases.

The embedder knows some of the hotline's languages far better than others, and callers say German legal
terms inside every language ("Fiktionsbescheinigung", "Wohnsitzauflage", "Duldung"). Shared words with a
topic's paraphrases, in any language, are evidence the embedding can blur. Haystack's in-memory BM25
retrieval scores every paraphrase; each topic (and the out-of-scope examples) keeps its best score.
"""

from __future__ import annotations

from typing import Any, Literal

from haystack import Document, component
from haystack.document_stores.in_memory import InMemoryDocumentStore
from haystack.document_stores.types import DuplicatePolicy

from pipeline.index import FaqIndex


@component
class LexicalMatcher:
    """The best BM25 score of each topic's question paraphrases for a question (topics without a hit are
    absent). The index is attached by the answerer, like the other matchers' data."""

    def __init__(self, top_k: int = 60, algorithm: Literal["BM25Okapi", "BM25L", "BM25Plus"] = "BM25L") -> None:
        self.top_k = top_k
        self.algorithm = algorithm
        self._store: InMemoryDocumentStore | None = None

    def attach(self, index: FaqIndex) -> None:
        store = InMemoryDocumentStore(bm25_algorithm=self.algorithm)
        rows = zip(index.texts, index.topics, index.kinds, index.languages, strict=True)
        docs = [Document(content=text, meta={"topic": topic, "lang": lang})
                for text, topic, kind, lang in rows if kind == "question"]
        store.write_documents(docs, policy=DuplicatePolicy.SKIP)
        self._store = store

    @component.output_types(lexical=dict[str, float])
    def run(self, text: str) -> dict[str, Any]:
        if self._store is None:
            raise RuntimeError("LexicalMatcher has no index; build it first")
        best: dict[str, float] = {}
        if text.strip():
            for hit in self._store.bm25_retrieval(text, top_k=self.top_k):
                topic = str(hit.meta["topic"])
                best[topic] = max(best.get(topic, 0.0), float(hit.score or 0.0))
        return {"lexical": best}
