"""The dashboard's knowledge-base pages: every topic with its use, ratings, freshness and review state,
one topic in every language, and marking a translation reviewed (editors)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from pipeline.review import ReviewEditError, set_reviewed
from voice.dashboard.kb_freshness import KbFreshness
from voice.dashboard.queries import CallFilter
from voice.web.dashboard_base import audit, bp, dashboard_state, default_range, editor_only


@bp.get("/kb")
def kb_overview() -> ResponseReturnValue:
    state = dashboard_state()
    f = CallFilter.from_args(default_range(request.args.to_dict(), days=90))
    kb = state.knowledge_base()
    fresh = KbFreshness(state.settings.prompts_dir, kb)
    usage = state.queries.topic_usage(f)
    rows = []
    for topic in kb.topic_ids:
        entry = kb.entries.get(topic)
        per = [u for (t, _), u in usage.items() if t == topic]
        ratings = [r for u in per for r in u["ratings"]]
        rows.append(
            {
                "topic": topic,
                "category": entry.category if entry else "?",
                "checked": entry.checked if entry else "?",
                "stale": fresh.is_stale(entry) if entry else True,
                "answered": sum(u["answered"] for u in per),
                "handed_over": sum(u["handed_over"] for u in per),
                "details": sum(u["details"] for u in per),
                "rating": sum(ratings) / len(ratings) if ratings else None,
                "reviewed": sum(1 for v in (entry.reviewed.values() if entry else ()) if v),
                "languages": len(kb.languages),
            }
        )
    unanswered = state.queries.weak_questions(f, topic="")
    return render_template(
        "dashboard/kb.html", rows=rows, f=f, unanswered=unanswered, languages=kb.languages, fresh=fresh
    )


@bp.get("/kb/<topic>")
def kb_topic(topic: str) -> ResponseReturnValue:
    state = dashboard_state()
    kb = state.knowledge_base()
    entry = kb.entries.get(topic)
    if entry is None:
        abort(404)
    f = CallFilter.from_args(default_range(request.args.to_dict(), days=90))
    usage = state.queries.topic_usage(f)
    languages = [
        {
            "code": lang,
            "text": entry.answers.get(lang, ""),
            "reviewed": entry.reviewed.get(lang, False),
            "questions": entry.questions.get(lang, ()),
            **(usage.get((topic, lang)) or {"answered": 0, "handed_over": 0, "rating": None}),
        }
        for lang in kb.languages
    ]
    weak = state.queries.weak_questions(f, topic=topic)
    fresh = KbFreshness(state.settings.prompts_dir, kb)
    return render_template(
        "dashboard/kb_topic.html",
        entry=entry,
        languages=languages,
        weak=weak,
        f=f,
        stale=fresh.is_stale(entry),
        sources=fresh.sources(entry),
        figures=fresh.figures_of(entry),
    )


@bp.post("/kb/<topic>/<lang>/reviewed")
@editor_only
def kb_set_reviewed(topic: str, lang: str) -> ResponseReturnValue:
    state = dashboard_state()
    kb = state.knowledge_base()
    entry = kb.entries.get(topic)
    if entry is None or lang not in kb.languages:
        abort(404)
    value = request.form.get("reviewed") == "true"
    try:
        changed = set_reviewed(entry.source, lang, value)
    except (ReviewEditError, OSError) as exc:
        flash(f"Could not change the file: {exc}", "error")
        return redirect(url_for("dashboard.kb_topic", topic=topic) + f"#lang-{lang}")
    if changed:
        audit("review", detail=f"{topic} {lang} reviewed={'true' if value else 'false'}")
        flash(f"{topic} ({lang}) is now marked {'reviewed' if value else 'not reviewed'}.", "ok")
    return redirect(url_for("dashboard.kb_topic", topic=topic) + f"#lang-{lang}")
