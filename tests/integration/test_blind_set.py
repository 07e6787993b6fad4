"""The blind evaluation set stays frozen, and the evaluation scores every question of it from outside.

The set was written from the topic list alone and frozen before any tuning; its figures will be reported
once in the README (typed and spoken), as the earlier sets' are. The earlier blind sets are development
data now: the first, reported three times (``tests/data/dev_questions_retired.yaml``), and the second to
eleventh, reported once each (``tests/data/dev_questions_retired_2.yaml`` to ``_11.yaml``). Thresholds are
chosen on the development questions only (``bench/calibrate_gate.py`` and ``bench/calibrate_asr.py``
refuse the blind file). The bound on wrong answers below is a regression guard, far from the reported
figure, not something to tune towards.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BLIND = ROOT / "tests/data/blind_questions.yaml"
FROZEN_SHA256 = "46835ccefd007bc06f2cbc9962f777c8ce470568eefb665a6e12b806fc7f689f"  # the twelfth set, 2026-12-08


def test_the_blind_set_is_unchanged_and_covers_every_language():
    assert hashlib.sha256(BLIND.read_bytes()).hexdigest() == FROZEN_SHA256, "the blind set is frozen: do not edit it"
    items = yaml.safe_load(BLIND.read_text(encoding="utf-8"))
    counts = Counter(i["lang"] for i in items)
    languages = yaml.safe_load((ROOT / "prompts/topics.yaml").read_text(encoding="utf-8"))["languages"]
    assert set(counts) == set(languages)
    assert all(counts[lang] >= 8 for lang in languages if lang not in ("ku", "ps", "so", "ti"))
    assert all(counts[lang] >= 4 for lang in ("ku", "ps", "so", "ti"))
    assert sum(1 for i in items if i["topic"] is None) >= 100  # other offices' business
    known = {t["id"] for t in yaml.safe_load((ROOT / "prompts/topics.yaml").read_text(encoding="utf-8"))["topics"]}
    assert {i["topic"] for i in items if i["topic"]} <= known


def test_calibration_refuses_the_blind_set():
    for script in ("bench/calibrate_gate.py", "bench/calibrate_gate_model.py", "bench/calibrate_asr.py"):
        result = subprocess.run(
            [sys.executable, script, str(BLIND)], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2 and "refusing to calibrate on the blind set" in result.stderr


def test_eval_json_scores_each_question_from_outside():
    result = subprocess.run(
        [sys.executable, "app.py", "eval", "--json", str(BLIND)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    report = json.loads(result.stdout)
    items = report["items"]
    assert len(items) == 348
    assert {i["outcome"] for i in items} <= {"answer", "confirm", "repeat", "handover"}
    for item in items:
        assert {"outcome", "topic", "candidates", "expected", "result"} <= set(item)
        if item["outcome"] == "confirm":
            assert 1 <= len(item["candidates"]) <= 2 and item["topic"] is None
        if item["outcome"] == "answer":
            assert item["topic"] and not item["candidates"]
    overall = report["summary"]["overall"]
    assert overall["wrong_answer_rate"] <= 0.05  # regression guard, see the module docstring
    assert overall["right_rate"] >= overall["top1_accuracy"]
