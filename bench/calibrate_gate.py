"""Calibrate the safety gate's thresholds on development questions.

Runs the pipeline once per question (up to the scorer), then grid-searches (min_margin,
min_similarity, max_out_of_scope, out_of_scope_gap) for the highest in-scope top-1 accuracy whose wrong-answer rate and
out-of-scope answer rate stay within budget. To keep the choice honest it calibrates on the
even-numbered items and reports the odd-numbered ones as held out.

    python bench/calibrate_gate.py tests/data/dev_questions.yaml [--max-wrong 0.03] [--max-oos 0.05]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from pipeline.answerer import FaqAnswerer  # noqa: E402
from pipeline.components import SafetyGate  # noqa: E402
from pipeline.knowledge import load_knowledge_base  # noqa: E402
from voice.evaluation import load_questions  # noqa: E402

Rates = tuple[float, float, float, float]


def candidates_for(answerer: FaqAnswerer, items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    assert answerer.pipeline is not None
    out = []
    for item in items:
        result = answerer.pipeline.run(
            {"embedder": {"text": item["text"]}, "composer": {"language": item["lang"]}},
            include_outputs_from={"scorer"},
        )
        out.append(result["scorer"]["candidates"])
    return out


def score(gate: SafetyGate, items: list[dict[str, Any]], cands: list[Any], known: set[str]) -> Rates:
    """(top-1 accuracy in scope, wrong-answer rate, hand-over rate, out-of-scope answered rate)."""
    correct = wrong = handover = n_in = oos_answered = 0
    for item, cand in zip(items, cands, strict=True):
        topic = gate.decide(cand)["topic"]
        expected = item.get("topic") if item.get("topic") in known else None
        n_in += expected is not None
        if topic is None:
            handover += 1
        elif topic == expected:
            correct += 1
        else:
            wrong += 1
            oos_answered += expected is None
    n, n_out = len(items), len(items) - n_in
    return correct / max(n_in, 1), wrong / n, handover / n, oos_answered / max(n_out, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("--max-wrong", type=float, default=0.03, help="wrong-answer budget (default 3%%)")
    parser.add_argument("--max-oos", type=float, default=0.05, help="out-of-scope answered budget (default 5%%)")
    args = parser.parse_args()
    items = load_questions(args.questions)
    answerer = FaqAnswerer()
    answerer.warm_up()
    known = set(load_knowledge_base(answerer.options.prompts_dir).entries)
    cands = candidates_for(answerer, items)
    calib = (items[0::2], cands[0::2])
    held = (items[1::2], cands[1::2])
    best: tuple[tuple[float, float, float, float], Rates] | None = None
    grid = itertools.product(
        [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4],
        [0.0, 0.84, 0.85, 0.86, 0.87, 0.88],
        [1.0, 0.3, 0.2, 0.1, 0.05],
        [1.0, 0.05, 0.03, 0.01, 0.0],
    )
    for setting in grid:
        rates = score(SafetyGate(*setting), *calib, known)
        if rates[1] <= args.max_wrong and rates[3] <= args.max_oos and (best is None or rates[0] > best[1][0]):
            best = (setting, rates)
    if best is None:
        print("no setting meets the budgets")
        return 1
    margin, similarity, oos, gap = best[0]
    print(f"chosen: min_margin={margin} min_similarity={similarity} max_out_of_scope={oos} out_of_scope_gap={gap}")
    print(f"{'split':<14}{'n':>5}{'top-1 acc':>11}{'wrong ans':>11}{'hand-over':>11}{'OOS answered':>14}")
    for name, (its, cs) in (("calibration", calib), ("held-out", held), ("all", (items, cands))):
        acc, wrong, ho, oa = score(SafetyGate(*best[0]), its, cs, known)
        print(f"{name:<14}{len(its):>5}{acc:>11.1%}{wrong:>11.1%}{ho:>11.1%}{oa:>14.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
