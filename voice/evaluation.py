"""Retrieval evaluation: topic accuracy, wrong-answer rate and hand-over rate per language.

An item whose expected topic has no knowledge-base entry yet counts as out of scope: the right
behaviour for it is a hand-over.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from voice.ports import Answerer


def load_questions(path: Path) -> list[dict[str, Any]]:
    """Read ``[{lang, topic|null, text}, ...]``.

    Raises:
        ValueError: For a missing file or malformed items (with their positions).
    """
    try:
        items = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of {{lang, topic, text}} items")
    bad = [i for i, it in enumerate(items) if not isinstance(it, dict) or not {"lang", "text"} <= set(it)]
    if bad:
        raise ValueError(f"{path}: items {bad[:10]} lack 'lang' or 'text'")
    return items


def evaluate(answerer: Answerer, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Run every question through ``answerer`` (models loaded once) and aggregate."""
    answerer.warm_up()
    known = _known_topics(answerer)
    rows = []
    for item in items:
        expected = item.get("topic")
        answer = answerer.answer(str(item["text"]), str(item["lang"]))
        topic = None if answer.handover else answer.topic
        rows.append(
            {
                "lang": item["lang"],
                "text": item["text"],
                "expected": expected,
                "in_scope": expected in known,
                "topic": topic,
                "handover": answer.handover,
                "score": answer.score,
                "margin": answer.margin,
                "reason": answer.reason,
            }
        )
    by_lang: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_lang[row["lang"]].append(row)
    summary = {"overall": _rates(rows), "per_language": {k: _rates(v) for k, v in sorted(by_lang.items())}}
    return {"summary": summary, "items": rows}


def _known_topics(answerer: Answerer) -> set[str]:
    from pipeline.knowledge import load_knowledge_base

    options = getattr(answerer, "options", None)
    prompts = getattr(options, "prompts_dir", Path("prompts"))
    return set(load_knowledge_base(prompts).entries)


def _rates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    in_scope = [r for r in rows if r["in_scope"]]
    out_scope = [r for r in rows if not r["in_scope"]]
    correct = sum(1 for r in in_scope if r["topic"] == r["expected"])
    wrong = sum(1 for r in rows if r["topic"] is not None and r["topic"] != r["expected"])
    handover = sum(1 for r in rows if r["handover"])
    oos_answered = sum(1 for r in out_scope if r["topic"] is not None)
    return {
        "n": n,
        "in_scope": len(in_scope),
        "top1_accuracy": _ratio(correct, len(in_scope)),
        "wrong_answer_rate": _ratio(wrong, n),
        "handover_rate": _ratio(handover, n),
        "out_of_scope_answered": _ratio(oos_answered, len(out_scope)),
    }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 3) if b else None


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table: one row per language and the overall row."""
    header = (
        f"{'lang':<8}{'n':>5}{'in-scope':>10}{'top-1 acc':>11}{'wrong ans':>11}{'hand-over':>11}{'OOS answered':>14}"
    )
    lines = [header, "-" * len(header)]
    rows = [*report["summary"]["per_language"].items(), ("overall", report["summary"]["overall"])]
    for lang, r in rows:
        lines.append(
            f"{lang:<8}{r['n']:>5}{r['in_scope']:>10}{_pct(r['top1_accuracy']):>11}"
            f"{_pct(r['wrong_answer_rate']):>11}{_pct(r['handover_rate']):>11}{_pct(r['out_of_scope_answered']):>14}"
        )
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"
