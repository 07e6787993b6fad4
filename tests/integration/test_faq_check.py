"""`python app.py faq check` on the shipped content and on deliberately broken copies of it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def faq_check(prompts: Path | None = None) -> tuple[int, dict]:
    env = dict(os.environ)
    if prompts is not None:
        env["HOTLINE_PROMPTS_DIR"] = str(prompts)
    result = subprocess.run(
        [sys.executable, "app.py", "faq", "check", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout)


def test_shipped_knowledge_base_is_complete():
    code, report = faq_check()
    assert report["errors"] == []
    assert code == 0 and report["ok"] is True
    assert report["topics"] == 63
    for lang, cov in report["coverage"].items():
        assert cov["answers"] == 63 and cov["questions"] == 63 and cov["prompts"] == 1, lang
        assert cov["titles"] == 63, lang


@pytest.fixture()
def prompts_copy(tmp_path: Path) -> Path:
    target = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", target)
    return target


def test_removing_an_entry_fails(prompts_copy):
    (prompts_copy / "faq" / "duldung.yaml").unlink()
    code, report = faq_check(prompts_copy)
    assert code == 1 and not report["ok"]
    assert any("'duldung' has no entry" in e for e in report["errors"])
    assert report["coverage"]["de"]["answers"] == 62


def test_removing_a_translation_fails(prompts_copy):
    path = prompts_copy / "faq" / "chancenkarte.yaml"
    entry = yaml.safe_load(path.read_text(encoding="utf-8"))
    del entry["answer"]["ti"]
    entry["questions"]["so"] = entry["questions"]["so"][:1]
    path.write_text(yaml.safe_dump(entry, allow_unicode=True), encoding="utf-8")
    code, report = faq_check(prompts_copy)
    assert code == 1
    assert any("chancenkarte.yaml: answer.ti.text is missing" in e for e in report["errors"])
    assert any("chancenkarte.yaml: questions.so has 1" in e for e in report["errors"])
    assert report["coverage"]["ti"]["answers"] == 62 and report["coverage"]["so"]["questions"] == 62


def test_unresolved_office_reference_and_missing_prompt_fail(prompts_copy):
    path = prompts_copy / "faq" / "termin-vereinbaren.yaml"
    entry = yaml.safe_load(path.read_text(encoding="utf-8"))
    entry["answer"]["fr"]["text"] += " Fax: {office.fax}."
    path.write_text(yaml.safe_dump(entry, allow_unicode=True), encoding="utf-8")
    phrases = yaml.safe_load((prompts_copy / "phrases" / "vi.yaml").read_text(encoding="utf-8"))
    del phrases["rating_request"]
    (prompts_copy / "phrases" / "vi.yaml").write_text(yaml.safe_dump(phrases, allow_unicode=True), encoding="utf-8")
    code, report = faq_check(prompts_copy)
    assert code == 1
    assert any("{office.fax}" in e for e in report["errors"])
    assert any("vi.yaml: missing keys rating_request" in e for e in report["errors"])
    assert report["coverage"]["vi"]["prompts"] == 0


def test_missing_long_or_unknown_topic_titles_fail(prompts_copy):
    path = prompts_copy / "confirm" / "uk.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data["titles"]["duldung"]
    data["titles"]["chancenkarte"] = "Chancenkarte " + "дуже " * 12
    data["titles"]["no-such-topic"] = "щось"
    data.pop("two")
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    (prompts_copy / "confirm" / "so.yaml").unlink()
    code, report = faq_check(prompts_copy)
    assert code == 1
    errors = "\n".join(report["errors"])
    assert "uk.yaml: no title for topic duldung" in errors
    assert "uk.yaml: title of chancenkarte is too long" in errors
    assert "uk.yaml: title for unknown topic no-such-topic" in errors
    assert "uk.yaml: no 'two' words" in errors
    assert "confirm/so.yaml" in errors
    assert report["coverage"]["uk"]["titles"] == 62 and report["coverage"]["so"]["titles"] == 0
