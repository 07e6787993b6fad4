"""Train the learned safety gate (``pipeline/gate_model.py``) on the development questions.

Runs the retrieval pipeline once per question up to the scorer, fits two logistic regressions on the
scorer's evidence (is the best topic right? is the right topic among the two a confirmation offers?) and
chooses their two thresholds among those whose wrong-answer rate, answered out-of-scope rate and
confirmation rate stay within budget: of the settings within half a point of the most right answers
(directly or after one confirmation), the one with the fewest confirmations. The budgets default to the
hotline's targets, 1% out of scope answered and 15% confirmations, and half its target for wrong answers,
0.5%: on the sixth blind set fresh callers got 0.9% wrong answers where cross-validation had promised
0.4%. (Cross-validated on the 2,774 development questions of 2026-12-07, before the card-word examples,
the half budget costs 1.4 points of direct answers and 0.9 of confirmations, keeps right answers at 98.2%,
and takes wrong answers from 0.6% to 0.4% and out-of-scope questions answered from 0.8% to 0.6%.) (Taking
simply the most right answers spent the whole confirmation budget for a tenth of a point: cross-validated
on the 2,552 development questions of 2026-12-07, before the everyday out-of-scope examples, 98.6% right
with 12.1% confirmations; with the half-point tolerance 98.4% right with 8.9%, and on the retired blind
sets, the questions most like fresh callers, 9.4% confirmations instead of 13.2%. A quarter of a point
gave 9.5%, a whole point 8.1% for 98.0% right.)

Honesty: thresholds are always chosen on out-of-fold predictions (the model that scores a question never
saw it). The figures printed as "cross-validated" come from k outer folds, each scored with a model and
thresholds made from the other folds alone; the model written at the end is trained on all development
questions. The blind set (tests/data/blind_questions.yaml) is refused.

    python bench/calibrate_gate_model.py tests/data/dev_questions.yaml tests/data/dev_out_of_scope.yaml \\
        tests/data/dev_questions_retired.yaml tests/data/dev_questions_retired_2.yaml \\
        tests/data/dev_questions_more_languages.yaml tests/data/dev_out_of_scope_2.yaml \\
        tests/data/dev_questions_retired_3.yaml tests/data/dev_questions_retired_4.yaml \\
        tests/data/dev_questions_retired_5.yaml tests/data/dev_questions_retired_6.yaml \\
        tests/data/dev_questions_retired_7.yaml tests/data/dev_questions_retired_8.yaml \\
        tests/data/dev_questions_retired_9.yaml tests/data/dev_questions_retired_10.yaml \\
        [--out pipeline/gate_model.json]
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from bench.calibrate_gate import (  # noqa: E402
    development_parser,
    development_questions,
    fold_indices,
    print_header,
    table_line,
    within_budget,
)
from pipeline.answerer import FaqAnswerer, RetrievalOptions, query_inputs  # noqa: E402
from pipeline.gate_model import DEFAULT_MODEL, FEATURES, GateModel, Logistic  # noqa: E402
from pipeline.knowledge import load_knowledge_base  # noqa: E402
from pipeline.result import MIN_OFFERED_SCORE, OUT_OF_SCOPE  # noqa: E402

ANSWER_THRESHOLDS = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.985, 0.99, 0.995]
CONFIRM_THRESHOLDS = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
RIGHT_TOLERANCE = 0.005  # chosen by cross-validation on the development questions, see the module docstring
# Half the hotline's 1% target: fresh callers got about twice the cross-validated wrong-answer rate (the sixth
# blind set 0.9% against 0.4%), so the development questions are held to half of it; see the module docstring.
MAX_WRONG = 0.005


class Evidence:
    """Per question: features, the two topics, whether the second would be offered, the expected topic."""

    def __init__(self, items: list[dict[str, Any]], answerer: FaqAnswerer, known: set[str]) -> None:
        assert answerer.pipeline is not None
        rows = []
        for n, item in enumerate(items, 1):
            out = answerer.pipeline.run(
                query_inputs(item["text"], item["lang"]),
                include_outputs_from={"scorer"},
            )["scorer"]
            scores = {c["topic"]: c["score"] for c in out["candidates"]}
            t1, t2 = out["evidence"]["topics"]
            rows.append((out["evidence"]["features"], t1, t2, scores.get(t2, 0.0) >= MIN_OFFERED_SCORE,
                         out["candidates"][0]["topic"] == OUT_OF_SCOPE))
            if n % 200 == 0:
                print(f"  {n}/{len(items)} questions scored", file=sys.stderr)
        self.x = np.array([r[0] for r in rows], dtype=np.float64)
        self.t1, self.t2 = np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
        self.second_offered = np.array([r[3] for r in rows])
        self.top_oos = np.array([r[4] for r in rows])
        self.far = self.x[:, FEATURES.index("sim1")] < GateModel.min_similarity  # handed over whatever the models say
        self.expected = np.array([str(i.get("topic")) if i.get("topic") in known else "" for i in items])
        self.first_right = (self.t1 == self.expected).astype(float)
        self.two_right = ((self.t1 == self.expected) | (self.second_offered & (self.t2 == self.expected))).astype(float)

    def outcomes(self, sure: np.ndarray, among_two: np.ndarray, thresholds: tuple[Any, Any],
                 idx: np.ndarray) -> dict[str, float]:
        """Rates on the questions ``idx`` (the same rules as ``SafetyGate`` with a model). A threshold is a
        number, or an array with one per question (each held-out question scored with its own fold's)."""
        answer_at, confirm_at = (t[idx] if isinstance(t, np.ndarray) else t for t in thresholds)
        considered = ~self.top_oos[idx] & ~self.far[idx]
        answer = considered & (sure[idx] >= answer_at)
        confirm = considered & ~answer & (among_two[idx] >= confirm_at)
        e, in_scope, n = self.expected[idx], self.expected[idx] != "", len(idx)
        first = self.t1[idx] == e
        hit = first | (self.second_offered[idx] & (self.t2[idx] == e))
        scope_n, out_n = max(int(in_scope.sum()), 1), max(int((~in_scope).sum()), 1)
        return {
            "right": float(np.sum(in_scope & ((answer & first) | (confirm & hit)))) / scope_n,
            "direct": float(np.sum(in_scope & answer & first)) / scope_n,
            "wrong": float(np.sum(answer & ~first)) / n,
            "oos": float(np.sum(~in_scope & answer)) / out_n,
            "confirm": float(np.sum(confirm)) / n,
            "handover": float(np.sum(in_scope & ~(answer & first) & ~(confirm & hit))) / scope_n,
        }

    def fit(self, idx: np.ndarray) -> tuple[Logistic, Logistic]:
        return Logistic.fit(self.x[idx], self.first_right[idx]), Logistic.fit(self.x[idx], self.two_right[idx])

    def out_of_fold(self, idx: np.ndarray, folds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Predictions for ``idx``, each from models trained on the other folds of ``idx``."""
        sure, among_two = np.zeros(len(self.x)), np.zeros(len(self.x))
        parts = np.array_split(np.random.default_rng(seed).permutation(idx), folds)
        for k, test in enumerate(parts):
            first, two = self.fit(np.concatenate([p for j, p in enumerate(parts) if j != k]))
            sure[test], among_two[test] = first.predict(self.x[test]), two.predict(self.x[test])
        return sure, among_two

    def choose(self, idx: np.ndarray, budgets: dict[str, float], seed: int,
               tolerance: float = RIGHT_TOLERANCE) -> tuple[float, float] | None:
        """The thresholds within budget with the fewest confirmations among those whose right answers are
        within ``tolerance`` of the most right (a caller asked to confirm waits; half a point of right
        answers is not worth several points of confirmations)."""
        sure, among_two = self.out_of_fold(idx, 5, seed)
        within: list[tuple[dict[str, float], tuple[float, float]]] = []
        for a in ANSWER_THRESHOLDS:
            for c in CONFIRM_THRESHOLDS:
                r = self.outcomes(sure, among_two, (a, c), idx)
                if within_budget(r, budgets):
                    within.append((r, (a, c)))
        if not within:
            return None
        most = max(r["right"] for r, _ in within)
        return min(((r["confirm"], -r["right"]), t) for r, t in within if r["right"] >= most - tolerance)[1]


def main() -> int:
    parser = development_parser(__doc__, max_oos=0.01, max_confirm=0.15, max_wrong=MAX_WRONG)
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL, help="where to write the model")
    parser.add_argument("--right-tolerance", type=float, default=RIGHT_TOLERANCE,
                        help=f"right answers given up for fewer confirmations "
                             f"(default {RIGHT_TOLERANCE * 100:.1f} points)")
    args = parser.parse_args()
    loaded = development_questions(args)
    if loaded is None:
        return 2
    items, budgets = loaded
    origin = np.array([item["source"] for item in items])
    sources = {q.stem: np.flatnonzero(origin == q.stem) for q in args.questions}
    answerer = FaqAnswerer(RetrievalOptions(gate_model=None))
    answerer.warm_up()
    known = set(load_knowledge_base(answerer.options.prompts_dir).entries)
    ev = Evidence(items, answerer, known)
    folds = fold_indices(len(items), args.folds)
    print_header("   (hand-over: of in-scope questions)")
    held = []
    sure, among_two = np.zeros(len(items)), np.zeros(len(items))  # each question scored by its held-out fold
    answer_at, confirm_at = np.zeros(len(items)), np.zeros(len(items))
    for k, test in enumerate(folds):
        train = np.concatenate([f for j, f in enumerate(folds) if j != k])
        thresholds = ev.choose(train, budgets, seed=k, tolerance=args.right_tolerance)
        if thresholds is None:
            print(f"fold {k + 1}: no thresholds meet the budgets", file=sys.stderr)
            return 1
        first, two = ev.fit(train)
        sure[test], among_two[test] = first.predict(ev.x[test]), two.predict(ev.x[test])
        answer_at[test], confirm_at[test] = thresholds
        held.append(ev.outcomes(sure, among_two, thresholds, test))
        print(table_line(f"fold {k + 1} held out", len(test), held[-1]))
    mean = {key: float(np.mean([h[key] for h in held])) for key in held[0]}
    print(table_line("cross-validated", len(items), mean))
    print("cross-validated, by file (held-out predictions pooled):")
    for name, idx in sources.items():
        print(f"  {name}")
        print(table_line("", len(idx), ev.outcomes(sure, among_two, (answer_at, confirm_at), idx)))
    everything = np.arange(len(items))
    final = ev.choose(everything, budgets, seed=99, tolerance=args.right_tolerance)
    assert final is not None
    first, two = ev.fit(everything)
    names = ", ".join(q.name for q in args.questions)
    model = GateModel(first, two, final[0], final[1],
                      trained_on=f"{len(items)} development questions ({names}), {dt.date.today().isoformat()}")
    model.save(args.out)
    print(f"thresholds: answer {final[0]}, confirm {final[1]}; model written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
