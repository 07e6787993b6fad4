"""The topic scorer's fusion of classifier probabilities with nearest-neighbour and word-overlap evidence."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.classifier import TopicModel
from pipeline.components import TopicScorer
from pipeline.gate_model import FEATURES
from pipeline.index import FaqIndex
from pipeline.lexical import LexicalMatcher

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


def test_shared_words_tip_a_call_the_embeddings_leave_open():
    probabilities = {"a": 0.45, "b": 0.45, "__out_of_scope__": 0.1}
    even = {t: {"question": 0.85, "answer": 0.85} for t in probabilities}
    scorer = TopicScorer(neighbour_weight=0.0)
    words = scorer.run(probabilities, even, lexical={"b": 9.0, "a": 2.0})
    assert words["candidates"][0]["topic"] == "b"
    assert sum(c["score"] for c in words["candidates"]) == pytest.approx(1.0)
    values = dict(zip(FEATURES, words["evidence"]["features"], strict=True))
    assert values["lexical_agrees"] == 1.0 and values["lexical_p1"] > 0.9 and values["lexical_oos"] < 0.01
    elsewhere = scorer.run(probabilities, even, lexical={"__out_of_scope__": 9.0, "a": 1.0})["evidence"]
    assert dict(zip(FEATURES, elsewhere["features"], strict=True))["lexical_oos"] > 0.9  # another office's words


def test_no_shared_words_leave_the_scores_as_they_were():
    probabilities = {"a": 0.4, "b": 0.5, "__out_of_scope__": 0.1}
    plain = TopicScorer().run(probabilities, BEST)
    assert TopicScorer().run(probabilities, BEST, lexical={})["candidates"] == plain["candidates"]
    values = dict(zip(FEATURES, plain["evidence"]["features"], strict=True))
    assert values["lexical_p1"] == 0.0 and values["lexical_agrees"] == 0.0


def test_the_word_matcher_scores_each_topic_by_its_best_paraphrase():
    texts = ("Wie verlängere ich meine Aufenthaltserlaubnis?", "Aufenthaltserlaubnis verlängern, was brauche ich?",
             "Was ist eine Fiktionsbescheinigung?", "Wo melde ich meinen Hund an?", "Antwort mit Fiktionsbescheinigung")
    topics = ("a", "a", "b", "__out_of_scope__", "a")
    index = FaqIndex(np.zeros((5, 2), dtype=np.float32), topics, ("question",) * 4 + ("answer",), ("de",) * 5,
                     TopicModel(np.zeros((2, 3), dtype=np.float32), np.zeros(3, dtype=np.float32), ("a", "b", "x")),
                     texts)
    matcher = LexicalMatcher()
    matcher.attach(index)
    found = matcher.run("brauche ich eine Fiktionsbescheinigung")["lexical"]
    assert max(found, key=lambda t: found[t]) == "b"  # the answer text of "a" is not searched
    assert matcher.run("   ")["lexical"] == {} and matcher.run("xyz qqq")["lexical"] == {}


def test_with_a_language_the_word_matcher_searches_that_language_and_german():
    texts = ("Wie verlängere ich meine Aufenthaltserlaubnis?", "Was ist eine Fiktionsbescheinigung?",
             "How do I renew my residence permit?", "Comment renouveler mon titre de séjour ?")
    topics = ("a", "b", "a", "c")
    index = FaqIndex(np.zeros((4, 2), dtype=np.float32), topics, ("question",) * 4, ("de", "de", "en", "fr"),
                     TopicModel(np.zeros((2, 3), dtype=np.float32), np.zeros(3, dtype=np.float32), ("a", "b", "c")),
                     texts)
    matcher = LexicalMatcher()
    matcher.attach(index)
    assert set(matcher.run("renouveler titre Fiktionsbescheinigung", "en")["lexical"]) == {"b"}  # en + de only
    assert set(matcher.run("renouveler titre Fiktionsbescheinigung", "fr")["lexical"]) == {"b", "c"}
    assert set(matcher.run("renouveler titre Fiktionsbescheinigung")["lexical"]) == {"b", "c"}  # no language: all
    assert set(matcher.run("renouveler titre", "xx")["lexical"]) == {"c"}  # an unknown language: all
