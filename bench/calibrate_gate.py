"""Choose the safety gate's thresholds (answer / confirm / hand over) by cross-validation.

Runs the retrieval pipeline once per development question (up to the scorer), then searches a grid of
(min_margin, min_similarity, max_out_of_scope, out_of_scope_gap, confirm_min_score,
confirm_min_similarity) for the setting with the most right answers (directly or after one
confirmation) whose wrong-answer rate, out-of-scope answer rate and confirmation rate stay within
budget. Default budgets: wrong answers at most 1%, out-of-scope questions answered at most 3%,
confirmations at most 25%. (The hotline's targets are 1%, 1% and 15%; with the out-of-scope
development questions of many kinds no setting meets all three, and a wrong answer is worse than a
confirmation.)

Honesty: the figures printed as "cross-validated" come from k folds, each scored with the setting
chosen on the other folds; the final setting is chosen on all development questions. The blind set
(tests/data/blind_questions.yaml) is never read here.

    python bench/calibrate_gate.py tests/data/dev_questions.yaml tests/data/dev_out_of_scope.yaml [--folds 5]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from pipeline.answerer import FaqAnswerer, query_inputs  # noqa: E402
from pipeline.knowledge import load_knowledge_base  # noqa: E402
from pipeline.result import MIN_OFFERED_SCORE, OUT_OF_SCOPE  # noqa: E402
from voice.qa.evaluation import load_questions  # noqa: E402

GRID = {
    "min_margin": [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6],
    "min_similarity": [0.84, 0.85, 0.86, 0.87, 0.88],
    "max_out_of_scope": [0.05, 0.1, 0.2, 0.3, 0.5],
    "out_of_scope_gap": [0.0, 0.01, 0.03, 0.05, 1.0],
    "confirm_min_score": [0.1, 0.2, 0.3, 0.4, 0.5],
    "confirm_min_similarity": [0.78, 0.8, 0.82, 0.84],
}


class Features:
    """Per question: the scorer's evidence as arrays, so that a setting is scored in microseconds."""

    def __init__(self, items: list[dict[str, Any]], cands: list[list[dict[str, Any]]], known: set[str]) -> None:
        rows = [self._row(c) for c in cands]
        self.expected = np.array([str(i.get("topic")) if i.get("topic") in known else "" for i in items])
        self.top_oos = np.array([r[0] for r in rows])
        self.best, self.second = np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
        num = np.array([r[3:] for r in rows], dtype=np.float64)
        self.best_score, self.second_score, self.best_sim, self.oos_score, self.oos_sim = num.T

    @staticmethod
    def _row(cands: list[dict[str, Any]]) -> tuple[Any, ...]:
        topics = [c for c in cands if c["topic"] != OUT_OF_SCOPE] + [{"topic": "", "score": 0.0, "similarity": 0.0}] * 2
        oos = next((c for c in cands if c["topic"] == OUT_OF_SCOPE), {"score": 0.0, "similarity": 0.0})
        best, second = topics[0], topics[1]
        return (
            cands[0]["topic"] == OUT_OF_SCOPE,
            best["topic"],
            second["topic"],
            best["score"],
            second["score"],
            best["similarity"],
            oos["score"],
            oos["similarity"],
        )

    def outcomes(self, s: dict[str, float], idx: np.ndarray) -> dict[str, float]:
        """Rates on the questions ``idx`` under setting ``s`` (the same rules as ``SafetyGate``)."""
        e, best = self.expected[idx], self.best[idx]
        oos = self.top_oos[idx] | (
            (self.oos_score[idx] > s["max_out_of_scope"])
            & (self.oos_sim[idx] >= self.best_sim[idx] - s["out_of_scope_gap"])
        )
        margin = self.best_score[idx] - self.second_score[idx]
        answer = ~oos & (margin >= s["min_margin"]) & (self.best_sim[idx] >= s["min_similarity"])
        confirm = (
            ~oos
            & ~answer
            & (self.best_score[idx] >= s["confirm_min_score"])
            & (self.best_sim[idx] >= s["confirm_min_similarity"])
        )
        second_offered = self.second_score[idx] >= MIN_OFFERED_SCORE
        hit = (best == e) | (second_offered & (self.second[idx] == e))
        in_scope, n = e != "", len(idx)
        return {
            "right": float(np.sum(in_scope & ((answer & (best == e)) | (confirm & hit)))) / max(int(in_scope.sum()), 1),
            "direct": float(np.sum(in_scope & answer & (best == e))) / max(int(in_scope.sum()), 1),
            "wrong": float(np.sum(answer & (best != e))) / n,
            "oos": float(np.sum(~in_scope & answer)) / max(int((~in_scope).sum()), 1),
            "confirm": float(np.sum(confirm)) / n,
            "handover": float(np.sum(~answer & ~confirm)) / n,
        }


def within_budget(rates: dict[str, float], budgets: dict[str, float]) -> bool:
    """Whether a setting's wrong answers, out-of-scope questions answered and confirmations all stay within
    their budgets (both calibrations choose only among such settings)."""
    return all(rates[key] <= budgets[key] for key in ("wrong", "oos", "confirm"))


def choose(f: Features, idx: np.ndarray, budgets: dict[str, float]) -> tuple[dict[str, float], dict[str, float]] | None:
    best: tuple[tuple[float, float], dict[str, float], dict[str, float]] | None = None
    for values in itertools.product(*GRID.values()):
        setting = dict(zip(GRID, values, strict=True))
        r = f.outcomes(setting, idx)
        if not within_budget(r, budgets):
            continue
        rank = (r["right"], -r["confirm"])
        if best is None or rank > best[0]:
            best = (rank, setting, r)
    return None if best is None else (best[1], best[2])


def candidates_for(answerer: FaqAnswerer, items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    assert answerer.pipeline is not None
    out = []
    for item in items:
        result = answerer.pipeline.run(
            query_inputs(item["text"], item["lang"]),
            include_outputs_from={"scorer"},
        )
        out.append(result["scorer"]["candidates"])
    return out


def table_line(name: str, n: int, r: dict[str, float]) -> str:
    cells = "".join(f"{r[k]:>10.1%}" for k in ("right", "direct", "wrong", "oos", "confirm", "handover"))
    return f"{name:<18}{n:>5}{cells}"


def print_header(note: str = "") -> None:
    heads = ("right", "direct", "wrong", "OOS ans", "confirm", "hand-over")
    print(f"{'':<18}{'n':>5}" + "".join(f"{h:>10}" for h in heads) + note)


def development_parser(doc: str | None, max_oos: float, max_confirm: float,
                       max_wrong: float = 0.01) -> argparse.ArgumentParser:
    """The calibration scripts' arguments: development question files, folds and the three budgets."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("questions", type=Path, nargs="+", help="development question files (YAML)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--max-wrong", type=float, default=max_wrong,
                        help=f"wrong-answer budget (default {max_wrong * 100:g}%%)")
    parser.add_argument("--max-oos", type=float, default=max_oos,
                        help=f"out-of-scope answered budget (default {max_oos * 100:.0f}%%)")
    parser.add_argument("--max-confirm", type=float, default=max_confirm,
                        help=f"confirmation budget (default {max_confirm * 100:.0f}%%)")
    return parser


def development_questions(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, float]] | None:
    """The questions (each with its file's name under ``source``) and budgets to calibrate on; None (and a
    message) when the blind set was given."""
    if any("blind" in q.name for q in args.questions):
        print("refusing to calibrate on the blind set", file=sys.stderr)
        return None
    budgets = {"wrong": args.max_wrong, "oos": args.max_oos, "confirm": args.max_confirm}
    return [{**item, "source": q.stem} for q in args.questions for item in load_questions(q)], budgets


def fold_indices(n: int, folds: int) -> list[np.ndarray]:
    """The same fixed split for every calibration (seed 7), so that their figures compare."""
    return np.array_split(np.random.default_rng(7).permutation(n), folds)


def main() -> int:
    args = development_parser(__doc__, max_oos=0.03, max_confirm=0.25).parse_args()
    loaded = development_questions(args)
    if loaded is None:
        return 2
    items, budgets = loaded
    answerer = FaqAnswerer()
    answerer.warm_up()
    known = set(load_knowledge_base(answerer.options.prompts_dir).entries)
    f = Features(items, candidates_for(answerer, items), known)
    folds = fold_indices(len(items), args.folds)
    print_header()
    held: list[dict[str, float]] = []
    for k, test in enumerate(folds):
        train = np.concatenate([fold for j, fold in enumerate(folds) if j != k])
        chosen = choose(f, train, budgets)
        if chosen is None:
            print(f"fold {k + 1}: no setting meets the budgets")
            return 1
        held.append(f.outcomes(chosen[0], test))
        print(table_line(f"fold {k + 1} held out", len(test), held[-1]))
    mean = {key: float(np.mean([h[key] for h in held])) for key in held[0]}
    print(table_line("cross-validated", len(items), mean))
    final = choose(f, np.arange(len(items)), budgets)
    assert final is not None
    print(table_line("chosen, on all", len(items), final[1]))
    print("setting: " + " ".join(f"{k}={v}" for k, v in final[0].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
