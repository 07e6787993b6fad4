"""Single-purpose Haystack components of the FAQ query pipeline.

text ─┬► E5TextEmbedder ─┬► TopicMatcher ──────┬► TopicScorer ─► SafetyGate ─► AnswerComposer
      │                  └► TopicClassifier ───┤        (the matcher's guessed language ─┘)
      └► LexicalMatcher (BM25) ────────────────┘
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from haystack import component

from pipeline.content import Content, load_content
from pipeline.gate_defaults import CALIBRATED
from pipeline.gate_model import GateModel, evidence
from pipeline.knowledge import KnowledgeBase, load_knowledge_base
from pipeline.result import MIN_OFFERED_SCORE, OUT_OF_SCOPE, FaqAnswer


@component
class TopicScorer:
    """Joins the classifier's topic probabilities with the nearest-neighbour evidence.

    Each candidate carries a ``score`` and the nearest-neighbour ``similarity``: the mean of the topic's
    best-matching question paraphrase and best-matching answer, in any language (the out-of-scope
    examples have no answers: their best question counts alone).

    The ``score`` is the classifier probability fused with a nearest-neighbour distribution, a softmax
    over each class's closest question paraphrase (``temperature`` sharpens it), and a word-overlap
    distribution, a softmax over each class's best BM25 score relative to the best class
    (``lexical_temperature``): a weighted geometric mean, ``neighbour_weight`` for the neighbours and
    ``lexical_weight`` for the word overlap. The classifier weighs all of a topic's examples in every
    language together; the closest paraphrase keeps the exact wording of one, which separates
    neighbouring topics the classifier blurs; shared words (German legal terms inside other languages,
    the weaker languages' own words) catch what the embedding blurs. Weights 0 give the classifier alone.
    """

    def __init__(self, neighbour_weight: float = 0.3, temperature: float = 50.0, lexical_weight: float = 0.2,
                 lexical_temperature: float = 10.0) -> None:
        self.neighbour_weight = neighbour_weight
        self.temperature = temperature
        self.lexical_weight = lexical_weight
        self.lexical_temperature = lexical_temperature

    @component.output_types(candidates=list[dict[str, Any]], evidence=dict[str, Any])
    def run(self, probabilities: dict[str, float], best: dict[str, dict[str, float]],
            lexical: dict[str, float] | None = None) -> dict[str, Any]:
        topics = list(probabilities)
        neighbours = self._neighbours(topics, best)
        words = self._words(topics, lexical or {})
        scores = self._fuse(probabilities, neighbours, words)
        similarity = {topic: self._similarity(best.get(topic, {}), topic) for topic in scores}
        candidates: list[dict[str, Any]] = sorted(
            ({"topic": topic, "score": p, "similarity": similarity[topic]} for topic, p in scores.items()),
            key=lambda c: -c["score"],
        )
        found = evidence(scores, probabilities, neighbours, best, similarity, words)
        return {"candidates": candidates[:10], "evidence": found}

    def _neighbours(self, topics: list[str], best: dict[str, dict[str, float]]) -> dict[str, float]:
        closest = np.array([best.get(t, {}).get("question", 0.0) for t in topics], dtype=np.float64)
        return _softmax(topics, self.temperature * (closest - closest.max())) if topics else {}

    def _words(self, topics: list[str], lexical: dict[str, float]) -> dict[str, float]:
        top = max(lexical.values(), default=0.0)
        if not topics or top <= 0.0:
            return {}  # no shared words: no word-overlap evidence either way
        relative = np.array([lexical.get(t, 0.0) / top for t in topics], dtype=np.float64)
        return _softmax(topics, self.lexical_temperature * (relative - 1.0))

    def _fuse(self, probabilities: dict[str, float], neighbours: dict[str, float],
              words: dict[str, float]) -> dict[str, float]:
        """The weighted geometric mean of the classifier and the two distributions (those present)."""
        parts = [(w, d) for w, d in ((self.neighbour_weight, neighbours), (self.lexical_weight, words)) if w > 0 and d]
        if not parts or not probabilities:
            return probabilities
        topics = list(probabilities)
        log_fused = (1.0 - sum(w for w, _ in parts)) * np.log(np.array([probabilities[t] for t in topics]) + 1e-12)
        for w, dist in parts:
            log_fused += w * np.log(np.array([dist[t] for t in topics]) + 1e-12)
        return _softmax(topics, log_fused - log_fused.max())

    @staticmethod
    def _similarity(best: dict[str, float], topic: str) -> float:
        question = best.get("question", 0.0)
        if topic == OUT_OF_SCOPE:
            return question
        return (question + best.get("answer", 0.0)) / 2.0


def _softmax(topics: list[str], logits: np.ndarray) -> dict[str, float]:
    weights = np.exp(logits - logits.max())
    return {t: float(p) for t, p in zip(topics, weights / weights.sum(), strict=True)}


@component
class SafetyGate:
    """Decides between answering, asking the caller to confirm a topic, and handing over.

    A wrong legal answer is worse than a hand-over, so the gate answers outright only when (a) the most
    probable class is a real topic, not the out-of-scope class, (b) the out-of-scope class is improbable,
    unless the nearest-neighbour evidence clearly disagrees (its closest out-of-scope example is much
    farther than the topic's own texts: both models must agree before a question counts as out of
    scope), (c) the best topic leads the runner-up by a clear probability margin and (d) the question
    is close enough to that topic's own texts.

    Between "sure" and "unsure" lies a confirmation band: a question that fails (c) or (d) but whose
    best topic is still probable (``confirm_min_score``) and close (``confirm_min_similarity``) is not
    answered; the caller is asked "is your question about <topic>?" with the runner-up as the second
    choice. Questions that look out of scope are never confirmed. The thresholds are chosen by
    cross-validation on the development questions (``bench/calibrate_gate.py``).

    With ``model`` (a ``GateModel`` file, ``pipeline/gate_model.py``) the gate weighs the scorer's whole
    evidence instead: it answers when the model's probability that the best topic is right reaches the
    model's answer threshold, confirms when the probability that the right topic is among the two
    offered reaches its confirm threshold, and hands over otherwise. A question whose most probable
    class is the out-of-scope class, or that is far from every topic, is handed over either way.
    """

    def __init__(
        self,
        min_margin: float = CALIBRATED.min_margin,
        min_similarity: float = CALIBRATED.min_similarity,
        max_out_of_scope: float = CALIBRATED.max_out_of_scope,
        out_of_scope_gap: float = CALIBRATED.out_of_scope_gap,
        confirm_min_score: float = CALIBRATED.confirm_min_score,
        confirm_min_similarity: float = CALIBRATED.confirm_min_similarity,
        model: str = "",
    ) -> None:
        self.model = model  # the path (Haystack serialises the init parameters by name)
        self._model = GateModel.load(Path(model)) if model else None
        self.min_margin = min_margin
        self.min_similarity = min_similarity
        self.max_out_of_scope = max_out_of_scope
        self.out_of_scope_gap = out_of_scope_gap
        self.confirm_min_score = confirm_min_score
        self.confirm_min_similarity = confirm_min_similarity

    @component.output_types(decision=dict[str, Any])
    def run(self, candidates: list[dict[str, Any]], evidence: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"decision": self.decide(candidates, evidence)}

    def decide(self, candidates: list[dict[str, Any]], evidence: dict[str, Any] | None = None) -> dict[str, Any]:
        topics = [c for c in candidates if c["topic"] != OUT_OF_SCOPE]
        if not topics:
            return _decision(None, 0.0, 0.0, "nothing retrieved", candidates)
        best = topics[0]
        runner_up: float = topics[1]["score"] if len(topics) > 1 else 0.0
        margin = best["score"] - runner_up
        if self._model is not None and evidence is not None:
            return self._decide_by_model(self._model, candidates, topics, margin, evidence)
        oos = next((c for c in candidates if c["topic"] == OUT_OF_SCOPE), {"score": 0.0, "similarity": 0.0})
        oos_close = oos["similarity"] >= best["similarity"] - self.out_of_scope_gap
        if candidates[0]["topic"] == OUT_OF_SCOPE or (oos["score"] > self.max_out_of_scope and oos_close):
            return _decision(None, best["score"], margin, f"looks out of scope (p={oos['score']:.2f})", candidates)
        if margin < self.min_margin:
            reason = f"ambiguous: {best['topic']} leads {topics[1]['topic']} by {margin:.2f}"
        elif best["similarity"] < self.min_similarity:
            reason = f"similarity {best['similarity']:.3f} below {self.min_similarity}"
        else:
            return _decision(best["topic"], best["score"], margin, "confident", candidates)
        if best["score"] >= self.confirm_min_score and best["similarity"] >= self.confirm_min_similarity:
            offered = [c["topic"] for c in topics[:2] if c["score"] >= MIN_OFFERED_SCORE or c is best]
            return _decision(None, best["score"], margin, reason, candidates, offered)
        return _decision(None, best["score"], margin, reason, candidates)

    @staticmethod
    def _decide_by_model(model: GateModel, candidates: list[dict[str, Any]], topics: list[dict[str, Any]],
                         margin: float, evidence: dict[str, Any]) -> dict[str, Any]:
        best = topics[0]
        if candidates[0]["topic"] == OUT_OF_SCOPE:
            return _decision(None, best["score"], margin, f"looks out of scope (p={candidates[0]['score']:.2f})",
                             candidates)
        if best["similarity"] < model.min_similarity:
            return _decision(None, best["score"], margin,
                             f"far from every topic (similarity {best['similarity']:.3f})", candidates)
        sure, among_two = model.probabilities(evidence["features"])
        if sure >= model.answer_threshold:
            return _decision(best["topic"], best["score"], margin, f"confident (right with p={sure:.3f})", candidates)
        reason = f"unsure: right with p={sure:.3f}, among the two offered with p={among_two:.3f}"
        if among_two >= model.confirm_threshold:
            offered = [c["topic"] for c in topics[:2] if c["score"] >= MIN_OFFERED_SCORE or c is best]
            return _decision(None, best["score"], margin, reason, candidates, offered)
        return _decision(None, best["score"], margin, reason, candidates)


def _decision(
    topic: str | None,
    score: float,
    margin: float,
    reason: str,
    candidates: list[dict[str, Any]],
    offered: list[str] | None = None,
) -> dict[str, Any]:
    outcome = "answer" if topic is not None else "confirm" if offered else "handover"
    return {
        "topic": topic,
        "handover": topic is None,
        "outcome": outcome,
        "offered": list(offered or []),
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
            "outcome": decision.get("outcome", ""),  # none given (a keypad choice): FaqAnswer derives it
            "offered": list(decision.get("offered", [])),
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
                short=self._content.fill(entry.shorts[lang], lang) if lang in entry.shorts else "",
                **common,
            )
        }
