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
    """Collapses retrieved documents into topics and guesses the question's language.

    A topic's score is the mean of its best-matching question paraphrase and its best-matching answer
    (in any language): the two views disagree on different mistakes, so requiring both is more robust
    across languages than either alone. Out-of-scope examples have no answer and count their best
    question alone. The language is the one of the closest question paraphrases.
    """

    def __init__(self, language_votes: int = 8) -> None:
        self.language_votes = language_votes

    @staticmethod
    def _combine(best: dict[tuple[str, str], float], topic: str) -> float:
        question = best.get((topic, "question"), 0.0)
        if topic == OUT_OF_SCOPE:
            return question
        return (question + best.get((topic, "answer"), 0.0)) / 2.0

    @component.output_types(candidates=list[dict[str, Any]], guessed_language=str)
    def run(self, documents: list[Document]) -> dict[str, Any]:
        best: dict[tuple[str, str], float] = {}
        for doc in documents:
            key = (str(doc.meta.get("topic")), str(doc.meta.get("kind")))
            best[key] = max(best.get(key, 0.0), float(doc.score or 0.0))
        candidates: list[dict[str, Any]] = sorted(
            ({"topic": t, "score": self._combine(best, t)} for t in {t for t, _ in best}),
            key=lambda c: -c["score"],
        )
        votes: dict[str, float] = {}
        questions = [d for d in documents if d.meta.get("kind") == "question"]
        for doc in questions[: self.language_votes]:
            lang = str(doc.meta.get("lang"))
            votes[lang] = votes.get(lang, 0.0) + float(doc.score or 0.0)
        guessed = max(votes, key=lambda k: votes[k]) if votes else "de"
        return {"candidates": candidates, "guessed_language": guessed}


@component
class SafetyGate:
    """Decides between answering and handing over; prefers handing over to a wrong legal answer.

    Answers only when the best topic is (a) not the out-of-scope pseudo-topic, (b) similar enough in
    absolute terms, (c) clearly ahead of the runner-up topic and (d) clearly ahead of the closest
    out-of-scope example. The thresholds are calibrated by ``bench/calibrate_gate.py``.
    """

    def __init__(self, min_score: float = 0.87, min_margin: float = 0.005, min_oos_gap: float = 0.0) -> None:
        self.min_score = min_score
        self.min_margin = min_margin
        self.min_oos_gap = min_oos_gap

    @component.output_types(decision=dict[str, Any])
    def run(self, candidates: list[dict[str, Any]]) -> dict[str, Any]:
        return {"decision": self.decide(candidates)}

    def decide(self, candidates: list[dict[str, Any]]) -> dict[str, Any]:
        if not candidates:
            return _decision(None, 0.0, 0.0, "nothing retrieved", candidates)
        top = candidates[0]
        topics = [c for c in candidates if c["topic"] != OUT_OF_SCOPE]
        oos: float = next((c["score"] for c in candidates if c["topic"] == OUT_OF_SCOPE), 0.0)
        best: dict[str, Any] = topics[0] if topics else {"topic": None, "score": 0.0}
        runner_up: float = topics[1]["score"] if len(topics) > 1 else 0.0
        margin = best["score"] - runner_up
        if top["topic"] == OUT_OF_SCOPE:
            reason = "closest to an out-of-scope example"
        elif best["score"] < self.min_score:
            reason = f"similarity {best['score']:.3f} below {self.min_score}"
        elif best["score"] - oos < self.min_oos_gap:
            reason = f"only {best['score'] - oos:.3f} ahead of an out-of-scope example"
        elif margin < self.min_margin:
            reason = f"ambiguous: {best['topic']} leads {topics[1]['topic']} by {margin:.3f}"
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
