"""Single-purpose Haystack components of the FAQ query pipeline.

text ─► E5TextEmbedder ─► InMemoryEmbeddingRetriever ─► TopicScorer ─► SafetyGate ─► AnswerComposer
                                                           └─ guessed language ───────────┘
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from haystack import Document, component

from pipeline.content import Content, load_content
from pipeline.knowledge import KnowledgeBase, load_knowledge_base
from pipeline.result import OUT_OF_SCOPE, FaqAnswer


@component
class TopicScorer:
    """Joins the classifier's topic probabilities with nearest-neighbour evidence, and guesses the
    question's language.

    Each candidate carries the classifier probability (``score``) and the nearest-neighbour
    ``similarity``: the mean of the topic's best-matching question paraphrase and best-matching answer,
    in any language. The language is the one of the closest question paraphrases.
    """

    def __init__(self, language_votes: int = 8) -> None:
        self.language_votes = language_votes

    @component.output_types(candidates=list[dict[str, Any]], guessed_language=str)
    def run(self, documents: list[Document], probabilities: dict[str, float]) -> dict[str, Any]:
        best: dict[tuple[str, str], float] = {}
        for doc in documents:
            key = (str(doc.meta.get("topic")), str(doc.meta.get("kind")))
            best[key] = max(best.get(key, 0.0), float(doc.score or 0.0))
        candidates: list[dict[str, Any]] = sorted(
            (
                {"topic": topic, "score": p, "similarity": self._similarity(best, topic)}
                for topic, p in probabilities.items()
            ),
            key=lambda c: -c["score"],
        )
        votes: dict[str, float] = {}
        questions = [d for d in documents if d.meta.get("kind") == "question"]
        for doc in questions[: self.language_votes]:
            lang = str(doc.meta.get("lang"))
            votes[lang] = votes.get(lang, 0.0) + float(doc.score or 0.0)
        guessed = max(votes, key=lambda k: votes[k]) if votes else "de"
        return {"candidates": candidates[:10], "guessed_language": guessed}

    @staticmethod
    def _similarity(best: dict[tuple[str, str], float], topic: str) -> float:
        question = best.get((topic, "question"), 0.0)
        if topic == OUT_OF_SCOPE:
            return question
        return (question + best.get((topic, "answer"), 0.0)) / 2.0


@component
class SafetyGate:
    """Decides between answering and handing over; prefers handing over to a wrong legal answer.

    Answers only when (a) the most probable class is a real topic, not the out-of-scope class, (b) the
    out-of-scope class is improbable, (c) the best topic leads the runner-up by a clear probability
    margin and (d) the question is close enough to that topic's own texts (nearest-neighbour
    similarity). The thresholds are calibrated by ``bench/calibrate_gate.py``.
    """

    def __init__(self, min_margin: float = 0.2, min_similarity: float = 0.87, max_out_of_scope: float = 0.1) -> None:
        self.min_margin = min_margin
        self.min_similarity = min_similarity
        self.max_out_of_scope = max_out_of_scope

    @component.output_types(decision=dict[str, Any])
    def run(self, candidates: list[dict[str, Any]]) -> dict[str, Any]:
        return {"decision": self.decide(candidates)}

    def decide(self, candidates: list[dict[str, Any]]) -> dict[str, Any]:
        topics = [c for c in candidates if c["topic"] != OUT_OF_SCOPE]
        if not topics:
            return _decision(None, 0.0, 0.0, "nothing retrieved", candidates)
        best = topics[0]
        runner_up: float = topics[1]["score"] if len(topics) > 1 else 0.0
        margin = best["score"] - runner_up
        oos: float = next((c["score"] for c in candidates if c["topic"] == OUT_OF_SCOPE), 0.0)
        if candidates[0]["topic"] == OUT_OF_SCOPE or oos > self.max_out_of_scope:
            reason = f"looks out of scope (p={oos:.2f})"
        elif margin < self.min_margin:
            reason = f"ambiguous: {best['topic']} leads {topics[1]['topic']} by {margin:.2f}"
        elif best["similarity"] < self.min_similarity:
            reason = f"similarity {best['similarity']:.3f} below {self.min_similarity}"
        else:
            return _decision(best["topic"], best["score"], margin, "confident", candidates)
        return _decision(None, best["score"], margin, reason, candidates)


def _decision(
    topic: str | None, score: float, margin: float, reason: str, candidates: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "topic": topic,
        "handover": topic is None,
        "score": round(score, 4),
        "margin": round(margin, 4),
        "reason": reason,
        "candidates": [(c["topic"], round(c["score"], 4)) for c in candidates[:5]],
    }


@component
class AnswerComposer:
    """Turns the gate's decision into the curated answer in the caller's language."""

    def __init__(self, prompts_dir: str = "prompts", office_profile: str = "prompts/office.example.yaml") -> None:
        self.prompts_dir = prompts_dir
        self.office_profile = office_profile
        self._kb: KnowledgeBase | None = None
        self._content: Content | None = None

    def warm_up(self) -> None:
        if self._kb is None:
            root = Path(self.prompts_dir)
            self._kb = load_knowledge_base(root)
            self._content = load_content(Path(self.office_profile), root / "figures.yaml")

    @component.output_types(answer=FaqAnswer)
    def run(self, decision: dict[str, Any], guessed_language: str, language: str | None = None) -> dict[str, Any]:
        self.warm_up()
        assert self._kb is not None and self._content is not None
        lang = language or guessed_language
        common = {
            "score": decision["score"],
            "margin": decision["margin"],
            "reason": decision["reason"],
            "candidates": list(decision["candidates"]),
        }
        entry = self._kb.entries.get(decision["topic"] or "")
        if entry is None or lang not in entry.answers:
            return {"answer": FaqAnswer(None, True, lang, "", [], "", **common)}
        text = self._content.fill(entry.answers[lang], lang)
        written = self._content.fill(entry.written.get(lang, entry.written.get("de", "")), lang)
        return {
            "answer": FaqAnswer(
                entry.id,
                False,
                lang,
                text,
                list(entry.legal_basis),
                entry.as_of,
                reviewed=entry.reviewed.get(lang, False),
                written=written,
                **common,
            )
        }
