"""The SIP parser, stream framer and SDP reader under a coverage-guided fuzzer (atheris) for a minute,
starting from the kept corpus (``tests/data/sip_fuzz_corpus``). A crash is any exception but the
documented parse errors; libFuzzer then exits non-zero and writes the input that caused it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_a_minute_of_fuzzing_finds_no_crash(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "tests/data/sip_fuzz_corpus", corpus)
    before = len(list(corpus.iterdir()))
    result = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.sip_parser", str(corpus), "-max_total_time=60", "-max_len=4096",
         f"-artifact_prefix={tmp_path}/", "-print_final_stats=1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    crashes = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-"))]
    assert result.returncode == 0 and not crashes, result.stderr[-4000:]
    runs = [line for line in result.stderr.splitlines() if line.startswith("stat::number_of_executed_units")]
    assert runs and int(runs[0].split(":")[-1]) > 10000, result.stderr[-2000:]  # it really ran
    assert before >= 6
