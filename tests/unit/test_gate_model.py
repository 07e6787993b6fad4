"""The learned safety gate: its model file, its features and the gate's three outcomes with a model."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pipeline.components import SafetyGate, TopicScorer
from pipeline.gate_model import DEFAULT_MODEL, FEATURES, GateModel, Logistic, evidence
from pipeline.result import OUT_OF_SCOPE
from voice.runtime.config import Settings

pytestmark = pytest.mark.unit

A, B, C = "aufenthaltserlaubnis-verlaengern", "fiktionsbescheinigung", "antragsstatus"


def on_margin(threshold_answer: float = 0.9, threshold_confirm: float = 0.5) -> GateModel:
    """A hand-made model: "right" grows with the margin (feature 2), "among two" with p1 + p2 (via log_p2)."""
    n = len(FEATURES)
    mean, scale = [0.0] * n, [1.0] * n
    answer = Logistic(mean, scale, [10.0 if i == 2 else 0.0 for i in range(n)], -3.0)  # margin 0.5 -> 0.88
    confirm = Logistic(mean, scale, [3.0 if i == 1 else 0.0 for i in range(n)], 6.0)  # log p2 -1 -> 0.95
    return GateModel(answer, confirm, threshold_answer, threshold_confirm)


def gate_with(model: GateModel, tmp_path: Path) -> SafetyGate:
    path = tmp_path / "gate.json"
    model.save(path)
    return SafetyGate(model=str(path))


def decide(gate: SafetyGate, probabilities: dict[str, float]) -> dict:
    best = {t: {"question": 0.9, "answer": 0.88} for t in probabilities}
    out = TopicScorer(neighbour_weight=0.0).run(probabilities, best)
    return gate.decide(out["candidates"], out["evidence"])


def test_the_features_name_every_value_and_speak_about_the_best_two_topics():
    best = {A: {"question": 0.91, "answer": 0.89}, B: {"question": 0.93, "answer": 0.85},
            OUT_OF_SCOPE: {"question": 0.86}}
    similarity = {A: 0.90, B: 0.89, OUT_OF_SCOPE: 0.86}  # as the scorer computes them from ``best``
    found = evidence({A: 0.7, B: 0.2, OUT_OF_SCOPE: 0.1}, {A: 0.6, B: 0.3, OUT_OF_SCOPE: 0.1}, {A: 0.4}, best,
                     similarity)
    values = dict(zip(FEATURES, found["features"], strict=True))
    assert found["topics"] == [A, B]
    assert values["margin"] == pytest.approx(0.5) and values["classifier_p1"] == 0.6
    assert values["sim1"] == pytest.approx(0.90) and values["oos_sim"] == 0.86
    assert values["other_question_lead"] == pytest.approx(0.02)  # B's paraphrase is closer than A's
    assert values["sources_agree"] == 0.0 and values["classifier_agrees"] == 1.0 and values["neighbour_agrees"] == 0.0
    assert values["oos_first"] == 0.0


def test_a_model_answers_confirms_or_hands_over(tmp_path):
    gate = gate_with(on_margin(), tmp_path)
    sure = decide(gate, {A: 0.8, B: 0.1, C: 0.05, OUT_OF_SCOPE: 0.05})  # margin 0.7
    assert sure["outcome"] == "answer" and sure["topic"] == A and "confident" in sure["reason"]
    unsure = decide(gate, {A: 0.5, B: 0.4, C: 0.05, OUT_OF_SCOPE: 0.05})  # margin 0.1, p2 high
    assert unsure["outcome"] == "confirm" and unsure["offered"] == [A, B] and unsure["topic"] is None
    lost = decide(gate, {A: 0.3, B: 0.01, C: 0.01, OUT_OF_SCOPE: 0.01})  # small lead, weak runner-up
    assert lost["outcome"] == "handover" and "unsure" in lost["reason"]


def test_the_out_of_scope_class_first_is_handed_over_whatever_the_model_says(tmp_path):
    gate = gate_with(on_margin(threshold_answer=0.0, threshold_confirm=0.0), tmp_path)  # would answer anything
    decision = decide(gate, {OUT_OF_SCOPE: 0.6, A: 0.3, B: 0.1})
    assert decision["outcome"] == "handover" and "out of scope" in decision["reason"]


def test_talk_far_from_every_topic_is_handed_over_whatever_the_model_says(tmp_path):
    gate = gate_with(on_margin(threshold_answer=0.0, threshold_confirm=0.0), tmp_path)  # would answer anything
    best = {t: {"question": 0.8, "answer": 0.79} for t in (A, B, OUT_OF_SCOPE)}  # a cave near Mecca, say
    out = TopicScorer(neighbour_weight=0.0).run({A: 0.6, B: 0.3, OUT_OF_SCOPE: 0.1}, best)
    decision = gate.decide(out["candidates"], out["evidence"])
    assert decision["outcome"] == "handover" and "far from every topic" in decision["reason"]


def test_without_a_model_the_threshold_rule_decides():
    gate = SafetyGate()
    assert gate.model == "" and decide(gate, {A: 0.5, B: 0.4, OUT_OF_SCOPE: 0.1})["outcome"] == "confirm"


def test_logistic_regression_learns_a_separable_rule():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] - x[:, 2] > 0).astype(float)
    model = Logistic.fit(x, y)
    assert ((model.predict(x) > 0.5) == (y == 1)).mean() > 0.95


def test_a_model_file_round_trips_and_a_stale_one_is_refused(tmp_path):
    model = replace(on_margin(), trained_on="test")
    path = tmp_path / "m.json"
    model.save(path)
    assert GateModel.load(path) == replace(model, features=FEATURES)
    data = json.loads(path.read_text())
    data["features"] = data["features"][:-1]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="other features"):
        GateModel.load(path)
    with pytest.raises(ValueError, match="gate model"):
        GateModel.load(tmp_path / "missing.json")


def test_the_bundled_model_loads_and_says_what_it_was_trained_on():
    model = GateModel.load(DEFAULT_MODEL)
    assert "development questions" in model.trained_on and "blind" not in model.trained_on
    assert 0.5 <= model.answer_threshold < 1.0 and 0.0 < model.confirm_threshold < 1.0


def test_the_gate_setting_picks_model_rule_or_a_file(tmp_path):
    assert Settings(gate="model").gate_model == DEFAULT_MODEL
    assert Settings(gate="rule").gate_model is None
    assert any("HOTLINE_GATE" in p for p in Settings(gate=str(tmp_path / "none.json")).problems())
