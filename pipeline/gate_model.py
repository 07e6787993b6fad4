"""The learned safety gate: how likely the best topic is right, from the scorer's evidence.

The threshold rule (``SafetyGate`` without a model) looks at three numbers: the fused probability of the
best topic, its lead over the runner-up and its similarity. The evidence holds more: whether the
classifier and the nearest paraphrase agree on the topic, how close the out-of-scope examples are, how
far the best paraphrase of another topic is. Two logistic regressions weigh all of it, trained on the
development questions (``bench/calibrate_gate_model.py``, never on the blind set):

- ``answer``: the probability that the best topic is the right one (0 for an out-of-scope question);
- ``confirm``: the probability that the right topic is among the two a confirmation would offer.

The hotline answers when the first reaches ``answer_threshold``, asks the caller to confirm when the second
reaches ``confirm_threshold``, and hands over otherwise. Speech that is far from every topic (best
similarity under ``min_similarity``, ``FAR_FROM_EVERY_TOPIC``: the threshold rule's confirmation floor when
the floor was set, not tuned here) is handed over whatever the models say: they learnt from questions about
the office's business and other offices', not from talk about anything at all, where logistic models
extrapolate badly. Both thresholds are chosen on out-of-fold predictions, within budgets for wrong answers,
answered out-of-scope questions and confirmations. Plain numpy and JSON: no training happens at query time.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.gate_defaults import FAR_FROM_EVERY_TOPIC
from pipeline.result import OUT_OF_SCOPE

DEFAULT_MODEL = Path(__file__).with_name("gate_model.json")

FEATURES = (
    "log_p1", "log_p2", "margin", "log_ratio",  # fused probabilities of the best two topics
    "classifier_p1", "classifier_p2", "neighbour_p1",  # the two sources of the fused score
    "question_sim1", "answer_sim1", "sim1", "sim_lead",  # how close the question is to the best topic
    "other_question_lead",  # the closest paraphrase of any other topic, minus the best topic's own
    "classifier_oos", "log_classifier_oos", "oos_sim", "oos_sim_lead",  # the out-of-scope examples
    "sources_agree", "classifier_agrees", "neighbour_agrees",  # top topics of classifier and paraphrases
    "fused_oos", "oos_first",
    "lexical_p1", "lexical_agrees", "lexical_oos",  # word overlap (BM25): best topic's share, agrees, out of scope
)


def evidence(fused: dict[str, float], probabilities: dict[str, float], neighbours: dict[str, float],
             best: dict[str, dict[str, float]], similarity: dict[str, float],
             words: dict[str, float] | None = None) -> dict[str, Any]:
    """The features of one question (names in ``FEATURES``) and the two topics they speak about.

    ``similarity`` is the scorer's per topic (``TopicScorer``: paraphrase and answer, or the out-of-scope
    examples' paraphrase alone); ``words`` its word-overlap distribution (empty: no shared words)."""
    topics = sorted((t for t in fused if t != OUT_OF_SCOPE), key=lambda t: -fused[t])
    t1, t2 = (topics + ["", ""])[:2]

    def sim(topic: str) -> float:
        return similarity.get(topic, 0.0)

    def question(topic: str) -> float:
        return best.get(topic, {}).get("question", 0.0)

    p1, p2 = fused.get(t1, 0.0), fused.get(t2, 0.0)
    real = [t for t in probabilities if t != OUT_OF_SCOPE]
    by_classifier = max(real, key=lambda t: probabilities[t]) if real else ""
    by_paraphrase = max(real, key=question) if real else ""
    oos_p = probabilities.get(OUT_OF_SCOPE, 0.0)
    shared = words or {}
    values = [
        math.log(p1 + 1e-9), math.log(p2 + 1e-9), p1 - p2, math.log(p1 + 1e-9) - math.log(p2 + 1e-9),
        probabilities.get(t1, 0.0), probabilities.get(t2, 0.0), neighbours.get(t1, 0.0),
        question(t1), best.get(t1, {}).get("answer", 0.0), sim(t1), sim(t1) - sim(t2),
        max((question(t) for t in real), default=0.0) - question(t1),
        oos_p, math.log(oos_p + 1e-9), sim(OUT_OF_SCOPE), sim(OUT_OF_SCOPE) - sim(t1),
        float(by_classifier == by_paraphrase), float(by_classifier == t1), float(by_paraphrase == t1),
        fused.get(OUT_OF_SCOPE, 0.0), float(bool(fused) and max(fused, key=lambda t: fused[t]) == OUT_OF_SCOPE),
        shared.get(t1, 0.0), float(bool(shared and real) and max(real, key=lambda t: shared.get(t, 0.0)) == t1),
        shared.get(OUT_OF_SCOPE, 0.0),
    ]
    return {"features": values, "topics": [t1, t2]}


@dataclass(frozen=True)
class Logistic:
    """Standardised logistic regression: ``sigmoid(((x - mean) / scale) @ weights + bias)``."""

    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = ((np.atleast_2d(x) - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.weights)
        return np.asarray(1.0 / (1.0 + np.exp(-(z + self.bias))))

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iterations: int = 3000,
            rate: float = 0.5) -> Logistic:
        """Full-batch gradient descent from zero (deterministic), L2 on the weights."""
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
        z = (x - mean) / scale
        w, b = np.zeros(z.shape[1]), 0.0
        for _ in range(iterations):
            p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
            g = p - y
            w -= rate * (z.T @ g / len(y) + l2 * w)
            b -= rate * float(g.mean())
        return cls(mean.tolist(), scale.tolist(), w.tolist(), b)


@dataclass(frozen=True)
class GateModel:
    answer: Logistic
    confirm: Logistic
    answer_threshold: float
    confirm_threshold: float
    features: tuple[str, ...] = FEATURES
    trained_on: str = ""
    min_similarity: float = FAR_FROM_EVERY_TOPIC

    def probabilities(self, features: list[float]) -> tuple[float, float]:
        """(P(best topic right), P(right topic among the two offered))."""
        x = np.asarray(features, dtype=np.float64)
        return float(self.answer.predict(x)[0]), float(self.confirm.predict(x)[0])

    def save(self, path: Path) -> None:
        data = asdict(self)
        data["features"] = list(self.features)
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> GateModel:
        """Read a model written by ``save``.

        Raises:
            ValueError: for a missing or unreadable file, or one made for other features.
        """
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            model = cls(
                Logistic(**data["answer"]), Logistic(**data["confirm"]), float(data["answer_threshold"]),
                float(data["confirm_threshold"]), tuple(data["features"]), str(data.get("trained_on", "")),
                float(data.get("min_similarity", FAR_FROM_EVERY_TOPIC)),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"gate model {path}: {exc}") from exc
        if model.features != FEATURES:
            raise ValueError(f"gate model {path} was trained on other features; run bench/calibrate_gate_model.py")
        return model
