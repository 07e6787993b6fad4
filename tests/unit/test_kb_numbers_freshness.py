"""Numbers stated by knowledge-base texts, and whether sources, check dates and figures are current."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pipeline.freshness import Law, figure_findings, law_findings, law_of, load_laws, topic_findings
from pipeline.knowledge import Entry, KnowledgeBase, Page
from pipeline.numbers import numbers_in, spoken_not_written, translation_differences

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 12, 6)


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("Das kostet 50.700 Euro oder 45.934,20 Euro.", "de", {"50700", "45934.2"}),
        ("It costs 50,700 euros, or 1.5 times that.", "en", {"50700", "1.5"}),
        ("am besten sechs bis acht Wochen vorher, eine zweijährige Ausbildung", "de", {"6", "8", "2"}),
        ("seit dem 1. März 2024 und bis zum 23.07.2027", "de", {"2024", "2027"}),
        ("自2024年3月1日起，6个月内", "zh", {"2024", "6"}),
        ("Desde el 27 de junio de 2024, en 6 meses", "es", {"2024", "6"}),
        ("bis 2026 und dann 3 Jahre", "de", {"2026", "3"}),
        ("nach § 25 Abs. 2 Satz 1 AufenthG, §§ 44 bis 53 AufenthV, BGBl. 2025 I Nr. 173: 3 Jahre", "de", {"3"}),
        ("خلال ۱۴ يوماً، ثم لسنتين", "fa", {"14"}),
        ("ثم لسنتين في كل مرة", "ar", {"2"}),
        ("Deutsch auf Niveau B1 oder C1, ein Jahr, 1 Antrag", "de", set()),
        ("bis zu {figure.fee_extension} Euro; Telefon {office.phone}", "de", {"figure:fee_extension"}),
        (
            "Im Jahr 2026 {figure.fee_naturalisation_test} Euro, 25 Fragen",
            "de",
            {"2026", "25", "figure:fee_naturalisation_test"},
        ),
    ],
)
def test_numbers_in(text, lang, expected):
    assert numbers_in(text, lang) == expected


def test_spoken_numbers_must_be_in_the_written_text_unless_simplified():
    spoken = "Sie bekommen sie zuerst für 1 Jahr, danach für 2 Jahre. Melden Sie sich in 14 Tagen."
    written = "Die Aufenthaltserlaubnis wird für drei Jahre erteilt; melden Sie sich innerhalb von 14 Tagen."
    assert spoken_not_written(spoken, written) == ["2"]
    assert spoken_not_written(spoken, written, simplified=["2"]) == []


def test_translation_differences_name_dropped_and_added_numbers():
    german = "Die Behörde kann ihn innerhalb von 30 Tagen ablehnen, in den ersten 12 Monaten."
    assert translation_differences(
        german, "The office can refuse it within 30 days, in the first 12 months.", "en"
    ) == (
        [],
        [],
    )
    assert translation_differences(german, "Within sixty days, in the first 12 months, 18 or older.", "en") == (
        ["30"],
        ["18"],
    )


def _entry(**changes) -> Entry:
    values = dict(
        id="demo",
        category="procedure",
        legal_basis=("§ 26 Abs. 1 AufenthG",),
        checked="2026-11-01",
        answers={"de": "Sie zahlen {figure.fee} Euro."},
        reviewed={"de": True},
        written={},
        questions={},
        source=Path("demo.yaml"),
    )
    values.update(changes)
    return Entry(**values)  # type: ignore[arg-type]


LAWS = {
    "AufenthG": Law("AufenthG", "Aufenthaltsgesetz", "https://example.invalid/a", "G v. 2025", TODAY),
    "AufenthV": Law("AufenthV", "Aufenthaltsverordnung", "https://example.invalid/v", "", None),
}


def test_law_of_matches_the_named_law_not_a_prefix():
    assert law_of("§ 26 Abs. 1 AufenthG", LAWS) is LAWS["AufenthG"]
    assert law_of("§§ 44-53 AufenthV", LAWS) is LAWS["AufenthV"]
    assert law_of("§ 61 AsylG", LAWS) is None


def test_topic_findings_unknown_law_missing_source_and_staleness():
    assert topic_findings(_entry(), LAWS, TODAY) == []
    unknown = topic_findings(_entry(legal_basis=("§ 61 AsylG",)), LAWS, TODAY)
    assert [(f.severity, "names no law" in f.message) for f in unknown] == [("error", True)]
    no_source = topic_findings(_entry(legal_basis=()), LAWS, TODAY)
    assert no_source[0].severity == "error" and "no source" in no_source[0].message
    assert topic_findings(_entry(legal_basis=(), sources=(Page("BAMF"),)), LAWS, TODAY) == []
    assert topic_findings(_entry(legal_basis=(), category="hotline"), LAWS, TODAY) == []
    stale = topic_findings(_entry(checked="2026-05-01"), LAWS, TODAY)
    assert [f.severity for f in stale] == ["warning"] and "more than 6 months" in stale[0].message
    future = topic_findings(_entry(checked="2027-01-01"), LAWS, TODAY)
    assert future[0].severity == "error"


def _kb(*entries: Entry) -> KnowledgeBase:
    return KnowledgeBase({e.id: e for e in entries}, ("de",), tuple(e.id for e in entries), {}, "x")


def test_figure_findings_expiry_review_and_missing_fields():
    kb = _kb(_entry())
    figures = {
        "fee": {"value": 93, "year": 2026, "source": "§ 45 AufenthV", "valid_until": dt.date(2026, 12, 1)},
        "unused": {"value": 1, "year": 2026, "source": "x", "valid_until": dt.date(2026, 1, 1)},
        "soon": {"value": 2, "year": 2026, "source": "x", "valid_until": dt.date(2027, 1, 15)},
        "review": {"value": 3, "year": 2026, "source": "x", "review_by": dt.date(2026, 12, 1)},
        "bare": {"value": 4, "year": 2026},
    }
    found = {(f.subject, f.severity, f.message.split(";")[0]) for f in figure_findings(figures, kb, TODAY)}
    assert ("figure fee", "error", "expired on 2026-12-01") in found  # used by a text: the answer is wrong now
    assert ("figure unused", "warning", "expired on 2026-01-01") in found
    assert ("figure soon", "warning", "expires on 2027-01-15") in found
    assert ("figure review", "warning", "was due for review on 2026-12-01") in found
    assert ("figure bare", "error", "has no source") in found
    assert ("figure bare", "error", "needs valid_until or review_by (a date)") in found


def test_shipped_sources_cover_every_cited_law():
    laws, problems = load_laws(ROOT / "prompts" / "sources.yaml")
    assert problems == []
    assert {"AufenthG", "AsylG", "StAG", "BeschV"} <= set(laws)
    assert all(f.severity == "warning" for f in law_findings(laws, TODAY))
