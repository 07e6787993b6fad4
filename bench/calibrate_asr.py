"""Choose the recognition thresholds of the outcome policy (answer / confirm / repeat) by cross-validation.

Each development question is spoken with the configured voice (eSpeak NG here), sent through the
phone codec and recognised with the live Transcriber, language detected as on a call. What Whisper
heard and how sure it was are cached (``var/cache/spoken-<hash>.json``: recognition is the slow part,
about 1-2 s a question on 2 cores); retrieval then runs on what was heard and a grid of
(unsure_logprob, garbled_logprob, max_no_speech) is searched for the most right answers (directly or
after one confirmation, less half the confirmations that offer only wrong topics) whose wrong-answer
rate stays within budget (default 2%, the spoken target),
each fold scored with the setting chosen on the others. The blind set is never read here.

    python bench/calibrate_asr.py tests/data/dev_questions.yaml [--limit N] [--folds 5]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from app import create_services  # noqa: E402
from voice.core.domain import Transcript  # noqa: E402
from voice.core.outcome import Outcome, OutcomePolicy  # noqa: E402
from voice.qa.evaluation import judge, known_topics, load_questions  # noqa: E402
from voice.qa.spoken_eval import SpokenOptions, line_audio, speakable_item  # noqa: E402
from voice.runtime.config import Settings  # noqa: E402

GRID = {
    "unsure_logprob": [-0.2, -0.25, -0.3, -0.35, -0.4, -0.45, -0.5, -0.6, -0.7, -0.8],
    "garbled_logprob": [-0.6, -0.7, -0.8, -0.9, -1.0, -1.2, -1.5, -9.0],
    "max_no_speech": [0.3, 0.5, 0.7, 1.0],
}


def recognise_all(services: Any, items: list[dict[str, Any]], cache: Path) -> list[dict[str, Any]]:
    """What the hotline hears of each speakable question (cached by question text and model)."""
    heard: dict[str, dict[str, Any]] = json.loads(cache.read_text()) if cache.is_file() else {}
    rng = np.random.default_rng(1)
    out = []
    for n, item in enumerate(items, 1):
        lang, text = str(item["lang"]), str(item["text"])
        if speakable_item(services, lang) is not None:
            continue
        key = f"{lang}\0{text}"
        if key not in heard:
            clip = line_audio(services, text, lang, SpokenOptions(), rng)
            t = services.transcriber.transcribe(clip)
            heard[key] = {
                "text": t.text,
                "status": t.status.value,
                "language": t.language,
                "language_probability": t.language_probability,
                "avg_logprob": t.avg_logprob,
                "no_speech_prob": t.no_speech_prob,
            }
            if n % 25 == 0:
                cache.write_text(json.dumps(heard))
                print(f"  recognised {n}/{len(items)}", file=sys.stderr)
        out.append({"item": item, **heard[key]})
    cache.write_text(json.dumps(heard))
    return out


class Scorer:
    """Retrieval answers once per heard question; each policy only re-decides."""

    def __init__(self, services: Any, spoken: list[dict[str, Any]], known: set[str]) -> None:
        self.services, self.spoken, self.known = services, spoken, known
        self.answers = [
            None if s["status"] != "ok" or not s["text"] else services.answerer.answer(s["text"], s["language"])
            for s in spoken
        ]

    def rates(self, policy: OutcomePolicy, idx: np.ndarray) -> dict[str, float]:
        rows = []
        for i in idx:
            s, a = self.spoken[i], self.answers[i]
            if a is None:
                rows.append(judge(s["item"], None, None, policy, self.known, Outcome.REPEAT, ()))
                continue
            t = Transcript(
                s["text"],
                s["language"],
                s["language_probability"],
                0.0,
                avg_logprob=s["avg_logprob"],
                no_speech_prob=s["no_speech_prob"],
            )
            rows.append(judge(s["item"], t, a, policy, self.known))
        n = max(len(rows), 1)
        in_scope = [r for r in rows if r["in_scope"]]
        right = sum(r["result"] in ("right", "confirmed") for r in in_scope) / max(len(in_scope), 1)
        return {
            "right": right,
            "wrong": sum(r["result"] == "wrong" for r in rows) / n,
            "confirm": sum(r["outcome"] == "confirm" for r in rows) / n,
            "declined": sum(r["result"] == "declined" for r in rows) / n,  # offered only wrong topics
            "repeat": sum(r["outcome"] == "repeat" for r in rows) / n,
            "handover": sum(r["outcome"] == "handover" for r in rows) / n,
        }


def choose(scorer: Scorer, idx: np.ndarray, max_wrong: float) -> tuple[OutcomePolicy, dict[str, float]] | None:
    best: tuple[tuple[float, float], OutcomePolicy, dict[str, float]] | None = None
    for unsure, garbled, no_speech in itertools.product(*GRID.values()):
        if garbled > unsure:
            continue
        policy = OutcomePolicy(unsure, garbled, no_speech)
        r = scorer.rates(policy, idx)
        if r["wrong"] > max_wrong:
            continue
        # a confirmation that offers only wrong topics costs the caller a question and a "no": half a miss
        rank = (r["right"] - 0.5 * r["declined"], -r["confirm"] - r["repeat"])
        if best is None or rank > best[0]:
            best = (rank, policy, r)
    return None if best is None else (best[1], best[2])


def _line(name: str, n: int, r: dict[str, float]) -> str:
    return f"{name:<18}{n:>5}" + "".join(f"{r[k]:>10.1%}" for k in ("right", "wrong", "confirm", "repeat", "handover"))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("questions", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--limit", type=int, help="use only every k-th question so that about N remain")
    parser.add_argument("--max-wrong", type=float, default=0.02, help="wrong-answer budget (default 2%%)")
    args = parser.parse_args()
    if "blind" in args.questions.name:
        print("refusing to calibrate on the blind set", file=sys.stderr)
        return 2
    items = load_questions(args.questions)
    if args.limit and args.limit < len(items):
        items = items[:: max(1, len(items) // args.limit)]
    settings = Settings.from_env()
    services = create_services(settings)
    services.warm_up()
    digest = hashlib.sha256(f"{settings.whisper_model}\0{settings.tts_engine}".encode()).hexdigest()[:12]
    spoken = recognise_all(services, items, settings.cache_dir / f"spoken-{digest}.json")
    scorer = Scorer(services, spoken, known_topics(services.answerer))
    order = np.random.default_rng(7).permutation(len(spoken))
    folds = np.array_split(order, args.folds)
    print(f"{'':<18}{'n':>5}" + "".join(f"{h:>10}" for h in ("right", "wrong", "confirm", "repeat", "hand-over")))
    held = []
    for k, test in enumerate(folds):
        train = np.concatenate([f for j, f in enumerate(folds) if j != k])
        chosen = choose(scorer, train, args.max_wrong)
        if chosen is None:
            print(f"fold {k + 1}: no setting meets the budget")
            return 1
        held.append(scorer.rates(chosen[0], test))
        print(_line(f"fold {k + 1} held out", len(test), held[-1]))
    print(_line("cross-validated", len(spoken), {key: float(np.mean([h[key] for h in held])) for key in held[0]}))
    print(_line("today's setting", len(spoken), scorer.rates(services.engine_config().outcome_policy, order)))
    final = choose(scorer, order, args.max_wrong)
    assert final is not None
    print(_line("chosen, on all", len(spoken), final[1]))
    p = final[0]
    print(f"setting: unsure_logprob={p.unsure_logprob} garbled_logprob={p.garbled_logprob}", end=" ")
    print(f"max_no_speech={p.max_no_speech}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
