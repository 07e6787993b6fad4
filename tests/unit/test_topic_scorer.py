"""The topic scorer's fusion of classifier probabilities with nearest-neighbour evidence."""

from __future__ import annotations

import pytest

from pipeline.components import TopicScorer

BEST = {
    "a": {"question": 0.90, "answer": 0.85},
    "b": {"question": 0.80, "answer": 0.84},
    "__out_of_scope__": {"question": 0.70},
}


def test_without_neighbour_weight_the_classifier_decides_alone():
    probabilities = {"a": 0.4, "b": 0.5, "__out_of_scope__": 0.1}
    candidates = TopicScorer(neighbour_weight=0.0).run(probabilities, BEST)["candidates"]
    assert [(c["topic"], c["score"]) for c in candidates] == [("b", 0.5), ("a", 0.4), ("__out_of_scope__", 0.1)]


def test_a_clearly_closer_paraphrase_can_overturn_a_close_classifier_call():
    probabilities = {"a": 0.4, "b": 0.5, "__out_of_scope__": 0.1}
    candidates = TopicScorer().run(probabilities, BEST)["candidates"]
    assert candidates[0]["topic"] == "a"
    assert sum(c["score"] for c in candidates) == pytest.approx(1.0)
    assert candidates[0]["similarity"] == pytest.approx(0.875)  # mean of closest question and answer


def test_a_confident_classifier_is_not_overturned_by_a_small_similarity_lead():
    probabilities = {"a": 0.05, "b": 0.9, "__out_of_scope__": 0.05}
    best = {**BEST, "a": {"question": 0.82, "answer": 0.8}}
    candidates = TopicScorer().run(probabilities, best)["candidates"]
    assert candidates[0]["topic"] == "b"
