"""Evaluation of what the hotline does with questions: answer, confirm, ask to repeat, hand over.

Every question gets an ``outcome`` (``answer``, ``confirm``, ``repeat``, ``handover``), its ``topic``
(the topic answered) and ``candidates`` (the topics a confirmation offered), so a file can be scored
from outside. The caller of a confirmation is assumed to pick the right topic when it is offered and
to decline otherwise: a confirmation that offers the right topic counts as a right answer "after one
confirmation", one that does not is a non-answer (the caller is asked to rephrase), never a wrong one.

An item whose expected topic has no knowledge-base entry counts as out of scope: the right behaviour
for it is anything but an answer.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from voice.core.domain import AnswerLike, Transcript
from voice.core.outcome import Outcome, OutcomePolicy, decide
from voice.core.ports import Answerer


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


def evaluate(answerer: Answerer, items: list[dict[str, Any]], policy: OutcomePolicy | None = None) -> dict[str, Any]:
    """Typed questions, in the caller's language as a call knows it, through retrieval and the
    outcome policy (models loaded once)."""
    answerer.warm_up()
    known = known_topics(answerer)
    rows = []
    for item in items:
        answer = answerer.answer(str(item["text"]), str(item["lang"]))
        rows.append(judge(item, None, answer, policy or OutcomePolicy(), known))
    return summarise(rows)


def judge(
    item: dict[str, Any],
    transcript: Transcript | None,
    answer: AnswerLike | None,
    policy: OutcomePolicy,
    known: set[str],
    outcome: Outcome | None = None,
    offered: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """One question's row: what the hotline did (decided here unless ``outcome`` is given) and whether
    that was right."""
    if outcome is None:
        if answer is None:
            raise ValueError("judge() needs an answer or an outcome")
        decision = decide(transcript, answer, policy)
        outcome, offered = decision.outcome, decision.offered
    expected = item.get("topic")
    in_scope = expected in known
    topic = answer.topic if outcome is Outcome.ANSWER and answer is not None else None
    candidates = list(offered or ())
    return {
        "lang": item["lang"],
        "text": item["text"],
        "expected": expected,
        "in_scope": in_scope,
        "outcome": outcome.value,
        "topic": topic,
        "candidates": candidates,
        "handover": outcome is not Outcome.ANSWER,
        "result": _result(outcome, topic, candidates, expected if in_scope else None),
        "score": answer.score if answer is not None else 0.0,
        "margin": answer.margin if answer is not None else 0.0,
        "reason": answer.reason if answer is not None else "",
    }


def _result(outcome: Outcome, topic: str | None, candidates: list[str], expected: str | None) -> str:
    """right, confirmed (right after one confirmation), wrong, or what happened instead of an answer."""
    if outcome is Outcome.ANSWER:
        return "right" if topic == expected else "wrong"
    if outcome is Outcome.CONFIRM:
        return "confirmed" if expected is not None and expected in candidates else "declined"
    return outcome.value


def known_topics(answerer: Answerer) -> set[str]:
    from pipeline.knowledge import load_knowledge_base

    options = getattr(answerer, "options", None)
    prompts = getattr(options, "prompts_dir", Path("prompts"))
    return set(load_knowledge_base(prompts).entries)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_lang: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_lang[row["lang"]].append(row)
    summary = {"overall": rates(rows), "per_language": {k: rates(v) for k, v in sorted(by_lang.items())}}
    return {"summary": summary, "items": rows}


def rates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    in_scope = [r for r in rows if r["in_scope"]]
    out_scope = [r for r in rows if not r["in_scope"]]

    def count(result: str, among: list[dict[str, Any]] = rows) -> int:
        return sum(1 for r in among if r["result"] == result)

    def outcome(name: str) -> float | None:
        return _ratio(sum(1 for r in rows if r["outcome"] == name), n)

    right = count("right", in_scope)
    return {
        "n": n,
        "in_scope": len(in_scope),
        "top1_accuracy": _ratio(right, len(in_scope)),  # answered directly with the right topic
        "right_rate": _ratio(right + count("confirmed", in_scope), len(in_scope)),  # directly or confirmed
        "wrong_answer_rate": _ratio(count("wrong"), n),
        "out_of_scope_answered": _ratio(sum(1 for r in out_scope if r["outcome"] == "answer"), len(out_scope)),
        "confirm_rate": outcome("confirm"),
        "repeat_rate": outcome("repeat"),
        "handover_rate": outcome("handover"),
        "handover_in_scope": _ratio(sum(1 for r in in_scope if r["outcome"] == "handover"), len(in_scope)),
    }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 3) if b else None


COLUMNS = (
    ("n", "n", 5),
    ("right_rate", "right", 8),
    ("top1_accuracy", "direct", 8),
    ("wrong_answer_rate", "wrong", 8),
    ("out_of_scope_answered", "OOS ans", 9),
    ("confirm_rate", "confirm", 9),
    ("repeat_rate", "repeat", 8),
    ("handover_rate", "hand-over", 11),
    ("handover_in_scope", "in scope", 10),
)


def format_report(report: dict[str, Any], extra: tuple[tuple[str, str, int], ...] = ()) -> str:
    """A plain-text table: one row per language and the overall row. ``right`` counts answers given
    directly or after one confirmation; ``direct`` only the former; ``in scope`` the hand-overs of
    questions the knowledge base covers (the other rates are over all questions)."""
    columns = COLUMNS + extra
    header = f"{'lang':<8}" + "".join(f"{title:>{width}}" for _, title, width in columns)
    lines = [header, "-" * len(header)]
    rows = [*report["summary"]["per_language"].items(), ("overall", report["summary"]["overall"])]
    for lang, r in rows:
        cells = "".join(
            f"{r[key]:>{width}}" if key == "n" else f"{_pct(r.get(key)):>{width}}" for key, _, width in columns
        )
        lines.append(f"{lang:<8}{cells}")
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"
