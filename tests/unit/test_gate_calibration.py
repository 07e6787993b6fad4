"""How the learned gate's calibration picks its two thresholds (``bench/calibrate_gate_model.py``).

The predictions are fixed by hand, so the test sees the choice alone: within the budgets, the fewest
confirmations among the settings whose right answers are within the tolerance of the most right.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.calibrate_gate_model import Evidence

pytestmark = pytest.mark.unit

BUDGETS = {"wrong": 0.01, "oos": 0.01, "confirm": 0.15}
EVERYONE = np.arange(309)  # the questions of ``evidence()``


def evidence() -> Evidence:
    """309 in-scope questions, all about topic "A", in five groups (first guess, second guess, sure, among two):

    280 sure and right; 10 right but less sure (answered only below 0.9, else confirmed); 10 wrong first
    and right second, as sure as 0.86 (answering them breaks the wrong-answer budget); 1 right only as the
    second of a confirmation offered at 0.2; 8 with neither topic right, confirmed only at 0.2.
    """
    groups = [(280, "A", "Y", 0.99, 0.99), (10, "A", "Y", 0.88, 0.95), (10, "X", "A", 0.86, 0.95),
              (1, "X", "A", 0.1, 0.25), (8, "X", "Y", 0.1, 0.25)]
    ev = Evidence.__new__(Evidence)
    ev.t1 = np.array([t1 for n, t1, _, _, _ in groups for _ in range(n)])
    ev.t2 = np.array([t2 for n, _, t2, _, _ in groups for _ in range(n)])
    sure = np.array([s for n, _, _, s, _ in groups for _ in range(n)])
    among_two = np.array([a for n, _, _, _, a in groups for _ in range(n)])
    n = len(sure)
    assert n == len(EVERYONE)
    ev.expected = np.array(["A"] * n)
    ev.second_offered, ev.top_oos, ev.far = np.ones(n, bool), np.zeros(n, bool), np.zeros(n, bool)
    ev.out_of_fold = lambda idx, folds, seed: (sure, among_two)  # type: ignore[method-assign]
    return ev


def test_without_tolerance_the_most_right_answers_win_whatever_they_cost_in_confirmations():
    ev = evidence()
    answer_at, confirm_at = ev.choose(EVERYONE, BUDGETS, seed=0, tolerance=0.0)
    assert answer_at >= 0.9 and confirm_at == 0.2  # one more right answer for nine more confirmations


def test_within_half_a_point_the_fewest_confirmations_win():
    ev = evidence()
    thresholds = ev.choose(EVERYONE, BUDGETS, seed=0, tolerance=0.005)
    assert thresholds is not None
    answer_at, confirm_at = thresholds
    assert answer_at >= 0.9 and confirm_at > 0.2
    rates = ev.outcomes(*ev.out_of_fold(EVERYONE, 5, 0), thresholds, EVERYONE)
    assert rates["wrong"] == 0.0 and rates["confirm"] == pytest.approx(20 / 309)
    assert rates["right"] == pytest.approx(300 / 309)


def test_no_thresholds_when_the_budgets_cannot_be_met():
    ev = evidence()
    assert ev.choose(EVERYONE, {**BUDGETS, "confirm": 0.01}, seed=0) is None
