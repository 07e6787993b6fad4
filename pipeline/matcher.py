"""Nearest-neighbour evidence per topic, computed over every embedded text of the knowledge base.

For each topic: the best similarity of the question to any of its paraphrases and to any of its
answers (in any language). One matrix product over ~10,000 rows takes about a millisecond, so every
topic is scored, not just those that would make a top-k list.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from haystack import component

from pipeline.index import FaqIndex


@component
class TopicMatcher:
    """Similarity evidence per topic and a guess of the question's language.

    The index is attached by the answerer (data, not configuration), like a document store's contents.
    """

    def __init__(self, language_votes: int = 8) -> None:
        self.language_votes = language_votes
        self.index: FaqIndex | None = None
        self._groups: dict[tuple[str, str], np.ndarray] = {}

    def attach(self, index: FaqIndex) -> None:
        self.index = index
        groups: dict[tuple[str, str], list[int]] = {}
        for row, key in enumerate(zip(index.topics, index.kinds, strict=True)):
            groups.setdefault(key, []).append(row)
        self._groups = {key: np.asarray(rows) for key, rows in groups.items()}

    @component.output_types(best=dict[str, dict[str, float]], guessed_language=str)
    def run(self, embedding: list[float]) -> dict[str, Any]:
        if self.index is None:
            raise RuntimeError("TopicMatcher has no index; build it first")
        scores = self.index.vectors @ np.asarray(embedding, dtype=np.float32)
        best: dict[str, dict[str, float]] = {}
        for (topic, kind), rows in self._groups.items():
            best.setdefault(topic, {})[kind] = float(scores[rows].max())
        questions = np.flatnonzero(np.asarray(self.index.kinds) == "question")
        top = questions[np.argsort(-scores[questions])[: self.language_votes]]
        votes: dict[str, float] = {}
        for row in top:
            lang = self.index.languages[row]
            votes[lang] = votes.get(lang, 0.0) + float(scores[row])
        guessed = max(votes, key=lambda k: votes[k]) if votes else "de"
        return {"best": best, "guessed_language": guessed}
