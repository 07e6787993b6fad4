"""Replay reports: aggregate metrics, the verdict against a saved baseline, and HTML/JSON files.

A report's JSON is also a baseline: run once on the current knowledge base and models, keep the JSON,
and later runs compare against it (``--baseline``). The verdict fails when a quality metric got worse
beyond its tolerance, when a turn that met its expectations no longer does, or when any expectation
fails. Latency measured on another day, or beside other work, drifts by tens of percent on the same
code: a slower p95 is reported as a warning unless ``strict_latency`` is asked for.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voice.qa.replay.runner import TurnOutcome
from voice.stages.audio import join_wavs, write_wav

OUTCOMES = ("answer", "confirm", "repeat", "handover")

STAGES = ("total", "endpoint", "asr", "retrieval", "tts")


@dataclass(frozen=True)
class Tolerances:
    rate: float = 0.0  # topic accuracy may drop / hand-over rate and WER may rise by this much
    latency: float = 0.5  # p95 may grow by this fraction before it is reported
    strict_latency: bool = False  # a slower p95 fails the verdict (else it is a warning)


@dataclass
class Verdict:
    ok: bool
    regressions: list[str] = field(default_factory=list)
    baseline: str | None = None
    warnings: list[str] = field(default_factory=list)  # noted, not failed: latency unless strict


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def metrics(outcomes: list[TurnOutcome]) -> dict[str, Any]:
    """Aggregate numbers over the replayed turns (None where nothing was measured)."""
    replayed = [o for o in outcomes if o.replayed]
    answered = [o for o in replayed if o.answered]
    topic_checks = [c for o in outcomes for c in o.checks if c["check"] == "topic"]
    checks = [c for o in outcomes for c in o.checks]
    wers = [o.wer for o in outcomes if o.wer is not None]
    compared = [o.compare for o in replayed if o.compare is not None]
    roundtrips = [o.roundtrip for o in outcomes if o.roundtrip is not None and o.roundtrip.get("ok") is not None]
    latency = {
        stage: {"p50": _pct(values, 50), "p95": _pct(values, 95)}
        for stage in STAGES
        if (values := [o.latency_ms[stage] for o in replayed if stage in o.latency_ms])
    }
    return {
        "turns": len(outcomes),
        "replayed": len(replayed),
        "not_replayed": len(outcomes) - len(replayed),
        "topic_accuracy": round(sum(c["ok"] for c in topic_checks) / len(topic_checks), 4) if topic_checks else None,
        "topic_checks": len(topic_checks),
        "expectations_met": sum(c["ok"] for c in checks),
        "expectations": len(checks),
        "handover_rate": round(sum(o.handover for o in answered) / len(answered), 4) if answered else None,
        "outcomes": {name: sum(o.outcome == name for o in outcomes) for name in OUTCOMES},
        "followups": {name: sum(name in o.followups for o in outcomes) for name in ("details", "repeat", "text")},
        "wer": round(sum(wers) / len(wers), 4) if wers else None,
        "wer_turns": len(wers),
        "latency_ms": latency,
        "changed_since_recorded": {
            "compared": len(compared),
            "transcripts": sum(bool(c["transcript_changed"]) for c in compared),
            "topics": sum(bool(c["topic_changed"]) for c in compared),
            "handovers": sum(bool(c["handover_changed"]) for c in compared),
            "answers": sum(bool(c["answer_changed"]) for c in compared),
        },
        "roundtrip_failures": sum(not r["ok"] for r in roundtrips) if roundtrips else None,
    }


def verdict(
    outcomes: list[TurnOutcome],
    current: dict[str, Any],
    baseline: dict[str, Any] | None = None,
    tolerances: Tolerances = Tolerances(),  # noqa: B008 (frozen)
    baseline_name: str | None = None,
) -> Verdict:
    """Compare with a baseline report (its ``metrics`` and ``turns``); failed expectations always fail."""
    problems = [
        f"{o.key}: expected {c['check']} {c['expected']!r}, got {c['actual']!r}"
        for o in outcomes
        for c in o.checks
        if not c["ok"]
    ]
    if current.get("roundtrip_failures"):
        problems.append(f"{current['roundtrip_failures']} spoken answer(s) failed the round-trip check")
    warnings: list[str] = []
    if baseline is not None:
        then = baseline.get("metrics", {})
        problems.extend(_metric_regressions(current, then, tolerances))
        slower = _latency_growth(current, then, tolerances)
        (problems if tolerances.strict_latency else warnings).extend(slower)
        passed_before = {t["key"] for t in baseline.get("turns", []) if t.get("passed") is True}
        for o in outcomes:
            if o.key in passed_before and o.passed is False:
                problems.append(f"{o.key}: met its expectations in the baseline, fails now")
    return Verdict(not problems, list(dict.fromkeys(problems)), baseline_name, warnings)


def _metric_regressions(now: dict[str, Any], then: dict[str, Any], tol: Tolerances) -> list[str]:
    out = []
    for name, worse_if_lower in (("topic_accuracy", True), ("handover_rate", False), ("wer", False)):
        a, b = then.get(name), now.get(name)
        if a is None or b is None:
            continue
        delta = (a - b) if worse_if_lower else (b - a)
        if delta > tol.rate + 1e-9:
            out.append(f"{name} {'fell' if worse_if_lower else 'rose'} from {a:.3f} to {b:.3f}")
    return out


def _latency_growth(now: dict[str, Any], then: dict[str, Any], tol: Tolerances) -> list[str]:
    out = []
    for stage, values in now.get("latency_ms", {}).items():
        before = then.get("latency_ms", {}).get(stage, {}).get("p95")
        if before and values.get("p95") and values["p95"] > before * (1 + tol.latency):
            out.append(f"{stage} latency p95 rose from {before:.0f} ms to {values['p95']:.0f} ms")
    return out


def report_json(
    outcomes: list[TurnOutcome], m: dict[str, Any], v: Verdict, skipped: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "metrics": m,
        "verdict": {"ok": v.ok, "regressions": v.regressions, "warnings": v.warnings, "baseline": v.baseline},
        "skipped": skipped,
        "turns": [{"key": o.key, "passed": o.passed, **o.as_json()} for o in outcomes],
    }


def write_report(folder: Path, outcomes: list[TurnOutcome], data: dict[str, Any]) -> Path:
    """``report.json``, ``report.html`` and the audio it plays (``audio/``); returns the HTML path."""
    audio = folder / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    clips: dict[str, tuple[str | None, str | None]] = {}
    for n, o in enumerate(outcomes, 1):
        caller = answer = None
        if o.caller_audio is not None:
            caller = write_wav(o.caller_audio, audio / f"{n:04d}-caller.wav").relative_to(folder).as_posix()
        if o.answer_audio:
            joined = join_wavs(o.answer_audio, rate=8000)
            answer = write_wav(joined, audio / f"{n:04d}-answer.wav").relative_to(folder).as_posix()
        clips[o.key] = (caller, answer)
    (folder / "report.json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    page = folder / "report.html"
    page.write_text(render_html(data, clips), encoding="utf-8")
    return page


def summary_lines(data: dict[str, Any]) -> list[str]:
    """A few lines for the terminal (stderr)."""
    m, v = data["metrics"], data["verdict"]
    lat = m["latency_ms"].get("total", {})

    def num(x: Any, fmt: str = "{:.1%}") -> str:
        return "-" if x is None else fmt.format(x)

    lines = [
        f"replayed {m['replayed']} of {m['turns']} turns; topic accuracy {num(m['topic_accuracy'])} "
        f"({m['topic_checks']} checked), hand-over rate {num(m['handover_rate'])}, WER {num(m['wer'])}, "
        f"latency p50 {num(lat.get('p50'), '{:.0f} ms')} p95 {num(lat.get('p95'), '{:.0f} ms')}",
        "outcomes: " + ", ".join(f"{n} {name}" for name, n in m["outcomes"].items()),
    ]
    c = m["changed_since_recorded"]
    if c["compared"]:
        lines.append(
            f"since recorded: {c['answers']} answers, {c['topics']} topics, {c['transcripts']} transcripts changed "
            f"(of {c['compared']} turns)"
        )
    lines.extend(f"skipped {s['input']}: {s['detail']}" for s in data["skipped"])
    against = f" (baseline {v['baseline']})" if v["baseline"] else ""
    lines.append("verdict: " + ("PASS" if v["ok"] else "FAIL") + against)
    lines.extend(f"  regression: {r}" for r in v["regressions"])
    lines.extend(f"  warning: {w} (latency drifts between runs; --strict-latency to fail on it)"
                 for w in v.get("warnings", []))
    return lines


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .5rem;vertical-align:top;text-align:left}
th{background:#f3f3f3}.pass{background:#e3f6e3}.fail{background:#fbe1e1}.muted{color:#777}
.verdict{padding:.6rem 1rem;font-size:1.2rem;font-weight:bold;display:inline-block}
audio{width:14rem}dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
"""


def render_html(data: dict[str, Any], clips: dict[str, tuple[str | None, str | None]]) -> str:
    e = html.escape
    m, v = data["metrics"], data["verdict"]

    def fmt(x: Any, spec: str = "{:.1%}") -> str:
        return "–" if x is None else spec.format(x)

    def player(src: str | None) -> str:
        return f'<audio controls preload="none" src="{e(src)}"></audio>' if src else ""

    lat_rows = "".join(
        f"<tr><td>{e(stage)}</td><td>{fmt(v_['p50'], '{:.0f}')}</td><td>{fmt(v_['p95'], '{:.0f}')}</td></tr>"
        for stage, v_ in m["latency_ms"].items()
    )
    changed = m["changed_since_recorded"]
    rows = []
    for t in data["turns"]:
        caller, answer = clips.get(t["key"], (None, None))
        cls = "" if t["passed"] is None else ("pass" if t["passed"] else "fail")
        failed = [c for c in t.get("checks", []) if not c["ok"]]
        notes = [f"{c['check']}: expected {c['expected']!r}, got {c['actual']!r}" for c in failed]
        cmp_ = t.get("compare")
        if cmp_:
            for what in ("transcript", "topic", "handover", "answer"):
                if cmp_.get(f"{what}_changed"):
                    notes.append(f"{what} changed (then: {cmp_.get(f'{what}_then', '…')!s:.120})")
        rt = t.get("roundtrip")
        if rt and rt.get("ok") is False:
            notes.append(f"round trip: heard [{rt.get('heard_language')}] WER {rt.get('wer')}")
        if t.get("detail"):
            notes.append(t["detail"])
        lat = t["latency_ms"]
        stages = " / ".join(f"{k} {lat[k]:.0f}" for k in STAGES[1:] if k in lat)
        rows.append(
            f'<tr class="{cls}"><td>{e(t["key"])}<br><span class="muted">{e(t["input"])}</span><br>'
            f"{player(caller)}</td>"
            f"<td>{e(t['transcript'])}"
            + (
                f"<br><span class='muted'>ref: {e(t['reference'])} (WER {fmt(t['wer'])})</span>"
                if t.get("reference")
                else ""
            )
            + f"</td><td>{e(str(t['language'] or '–'))}</td><td>{e(str(t['topic'] or '–'))}</td>"
            f"<td>{'yes' if t['handover'] else 'no'}</td><td>{e(t['answer'][:300])}<br>{player(answer)}</td>"
            f"<td>{fmt(lat.get('total'), '{:.0f}')} ms<br><span class='muted'>{e(stages)}</span></td>"
            f"<td>{'<br>'.join(e(n) for n in notes)}</td></tr>"
        )
    skipped = "".join(f"<li>{e(s['input'])}: {e(s['detail'])}</li>" for s in data["skipped"])
    regressions = "".join(f"<li>{e(r)}</li>" for r in v["regressions"])
    regressions += "".join(f"<li class='muted'>warning: {e(w)}</li>" for w in v.get("warnings", []))
    return f"""<!doctype html><html lang="en"><meta charset="utf-8"><title>Hotline replay report</title>
<style>{_CSS}</style><h1>Hotline replay report</h1><p class="muted">{e(data["created_at"])}</p>
<p class="verdict {"pass" if v["ok"] else "fail"}">{"PASS" if v["ok"] else "FAIL"}
{f" against baseline {e(v['baseline'])}" if v["baseline"] else ""}</p>
{f"<ul>{regressions}</ul>" if regressions else ""}
<h2>Metrics</h2><dl>
<dt>Turns replayed</dt><dd>{m["replayed"]} of {m["turns"]}</dd>
<dt>Topic accuracy</dt><dd>{fmt(m["topic_accuracy"])} ({m["topic_checks"]} turns with an expected topic)</dd>
<dt>Expectations met</dt><dd>{m["expectations_met"]} of {m["expectations"]}</dd>
<dt>Hand-over rate</dt><dd>{fmt(m["handover_rate"])}</dd>
<dt>Word error rate</dt><dd>{fmt(m["wer"])} ({m["wer_turns"]} turns with a reference)</dd>
<dt>Changed since recorded</dt><dd>{changed["answers"]} answers, {changed["topics"]} topics,
{changed["transcripts"]} transcripts of {changed["compared"]} stored turns</dd>
<dt>Round-trip failures</dt><dd>{fmt(m["roundtrip_failures"], "{}")}</dd></dl>
<table style="width:auto"><tr><th>latency (ms)</th><th>p50</th><th>p95</th></tr>{lat_rows}</table>
{f"<h2>Skipped</h2><ul>{skipped}</ul>" if skipped else ""}
<h2>Turns</h2><table><tr><th>turn</th><th>transcript</th><th>lang</th><th>topic</th><th>hand-over</th>
<th>answer</th><th>latency</th><th>notes</th></tr>{"".join(rows)}</table></html>
"""
