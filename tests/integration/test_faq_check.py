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


def faq_check(prompts: Path | None = None, on: str | None = None) -> tuple[int, dict]:
    env = dict(os.environ)
    if prompts is not None:
        env["HOTLINE_PROMPTS_DIR"] = str(prompts)
    result = subprocess.run(
        [sys.executable, "app.py", "faq", "check", "--json", *(["--on", on] if on else [])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout)


def test_shipped_knowledge_base_is_complete():
    # judged on the day of the last content review: an office that skips the January update sees its
    # `faq check` fail, but the completeness of the shipped content does not depend on the test's date
    code, report = faq_check(on="2026-12-06")
    assert report["errors"] == []
    assert code == 0 and report["ok"] is True
    assert report["topics"] == 64
    for lang, cov in report["coverage"].items():
        assert cov["answers"] == 64 and cov["questions"] == 64 and cov["prompts"] == 1, lang
        assert cov["titles"] == 64, lang


@pytest.fixture()
def prompts_copy(tmp_path: Path) -> Path:
    target = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", target)
    return target


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_removing_an_entry_fails(prompts_copy):
    (prompts_copy / "faq" / "duldung.yaml").unlink()
    code, report = faq_check(prompts_copy)
    assert code == 1 and not report["ok"]
    assert any("'duldung' has no entry" in e for e in report["errors"])
    assert report["coverage"]["de"]["answers"] == 63


def test_removing_a_translation_fails(prompts_copy):
    def change(entry):
        del entry["answer"]["ti"]
        entry["questions"]["so"] = entry["questions"]["so"][:1]

    _edit(prompts_copy / "faq" / "chancenkarte.yaml", change)
    code, report = faq_check(prompts_copy)
    assert code == 1
    assert any("chancenkarte.yaml: answer.ti.text is missing" in e for e in report["errors"])
    assert any("chancenkarte.yaml: questions.so has 1" in e for e in report["errors"])
    assert report["coverage"]["ti"]["answers"] == 63 and report["coverage"]["so"]["questions"] == 63


def test_unresolved_office_reference_and_missing_prompt_fail(prompts_copy):
    def fax(entry):
        entry["answer"]["fr"]["text"] += " Fax: {office.fax}."

    _edit(prompts_copy / "faq" / "termin-vereinbaren.yaml", fax)
    _edit(prompts_copy / "phrases" / "vi.yaml", lambda phrases: phrases.pop("rating_request"))
    code, report = faq_check(prompts_copy)
    assert code == 1
    assert any("{office.fax}" in e for e in report["errors"])
    assert any("vi.yaml: missing keys rating_request" in e for e in report["errors"])
    assert report["coverage"]["vi"]["prompts"] == 0


def test_missing_long_or_unknown_topic_titles_fail(prompts_copy):
    def titles(data):
        del data["titles"]["duldung"]
        data["titles"]["chancenkarte"] = "Chancenkarte " + "дуже " * 12
        data["titles"]["no-such-topic"] = "щось"
        data.pop("two")

    _edit(prompts_copy / "confirm" / "uk.yaml", titles)
    (prompts_copy / "confirm" / "so.yaml").unlink()
    code, report = faq_check(prompts_copy)
    assert code == 1
    errors = "\n".join(report["errors"])
    assert "uk.yaml: no title for topic duldung" in errors
    assert "uk.yaml: title of chancenkarte is too long" in errors
    assert "uk.yaml: title for unknown topic no-such-topic" in errors
    assert "uk.yaml: no 'two' words" in errors
    assert "confirm/so.yaml" in errors
    assert report["coverage"]["uk"]["titles"] == 63 and report["coverage"]["so"]["titles"] == 0


def test_planted_number_contradictions_fail(prompts_copy):
    def spoken(entry):  # the spoken German now says 1 year, then 2 years: the written text says 3 years
        entry["answer"]["de"]["text"] = entry["answer"]["de"]["text"].replace("für 3 Jahre", "für 2 Jahre")

    _edit(prompts_copy / "faq" / "schutzberechtigte-aufenthalt.yaml", spoken)

    def translation(entry):  # a translation that states a different deadline
        entry["answer"]["en"]["text"] = entry["answer"]["en"]["text"].replace("30 days", "60 days")

    _edit(prompts_copy / "faq" / "arbeitgeberwechsel.yaml", translation)
    code, report = faq_check(prompts_copy)
    assert code == 1
    errors = "\n".join(report["errors"])
    assert "schutzberechtigte-aufenthalt: the spoken German states 2, the written German does not" in errors
    assert "arbeitgeberwechsel: answer.en drops 30 and adds 60 compared with the German" in errors
    assert "schutzberechtigte-aufenthalt: answer.fr drops 2 and adds 3" in errors  # translations follow the German
    assert "arbeitgeberwechsel: answer.fr" not in errors  # only what was planted


def test_unknown_law_missing_sources_and_figure_source_fail(prompts_copy):
    _edit(prompts_copy / "faq" / "duldung.yaml", lambda e: e["legal_basis"].append("§ 99 FantasieG"))
    _edit(prompts_copy / "faq" / "antragsstatus.yaml", lambda e: e.pop("sources"))
    _edit(prompts_copy / "figures.yaml", lambda f: f["fee_extension"].pop("source"))
    code, report = faq_check(prompts_copy)
    assert code == 1
    errors = "\n".join(report["errors"])
    assert "duldung: legal basis '§ 99 FantasieG' names no law of sources.yaml" in errors
    assert "antragsstatus: no source" in errors
    assert "figure fee_extension: has no source" in errors


def test_expired_figure_fails_and_stale_checks_warn_on_a_later_day():
    code, report = faq_check(on="2027-03-05")  # the shipped content, judged on a day after the protection's end
    assert code == 1
    errors = "\n".join(report["errors"])
    assert "figure temporary_protection_end: expired on 2027-03-04; used by ukraine-schutz" in errors
    assert "figure blue_card_salary_general: expired on 2026-12-31; used by blaue-karte-eu" in errors
    warnings = "\n".join(report["warnings"])
    assert "more than 6 months ago" not in warnings  # checked 2026-11 or later: not yet stale in March
    code, report = faq_check(on="2027-06-30")
    assert any("last checked 2026-11-01, more than 6 months ago" in w for w in report["warnings"])
    expiring = "figure family_reunion_subsidiary_suspended_until: expires on 2027-07-23"
    assert any(expiring in w for w in report["warnings"])
