"""Seconds of audio a caller hears after a question before they can act: the full answer vs the short one.

For every topic and language (eSpeak NG voices, as on the phone), renders what the hotline says after a
question, up to the point where it tells the caller what they can do next:

- full answer: intro, the spoken answer, the legal basis, "another question? otherwise press #";
- short answer: intro, the short answer, the legal basis, the menu (1 details, 3 again, next question, #).

The disclaimer is left out of both (it is said once per call, whichever form the answer takes). Prints
the median and 90th percentile per language and over all, and the median words of each text.

    python bench/bench_answer_length.py [--languages de,en,tr,ar,uk]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.realtime import percentile, provenance  # noqa: E402
from pipeline.content import load_content  # noqa: E402
from pipeline.knowledge import load_knowledge_base  # noqa: E402
from voice.core.engine_types import Prompt  # noqa: E402
from voice.runtime.phrases import load_phrases  # noqa: E402
from voice.stages.tts.espeak import EspeakSynthesizer  # noqa: E402


def seconds(tts: EspeakSynthesizer, texts: list[str], language: str, cache: dict[str, float]) -> float:
    total = 0.0
    for text in texts:
        if text not in cache:
            audio = tts.synthesize(text, language).audio
            cache[text] = len(audio.samples) / audio.sample_rate
        total += cache[text]
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--languages", default="", help="comma-separated codes (default: every language with a voice)")
    args = parser.parse_args()
    prompts = ROOT / "prompts"
    content = load_content(prompts / "office.example.yaml", prompts / "figures.yaml")
    kb = load_knowledge_base(prompts)
    phrases = load_phrases(prompts / "phrases", kb.languages, content)
    tts = EspeakSynthesizer()
    wanted = [x for x in args.languages.split(",") if x] or list(kb.languages)
    languages = [lang for lang in wanted if tts.has_voice(lang)]
    skipped = [lang for lang in wanted if lang not in languages]
    rows: list[tuple[str, dict[str, list[float]], dict[str, list[int]]]] = []
    everything: dict[str, list[float]] = {"full": [], "short": []}
    for lang in languages:
        cache: dict[str, float] = {}
        per: dict[str, list[float]] = {"full": [], "short": []}
        words: dict[str, list[int]] = {"full": [], "short": []}
        for entry in kb.entries.values():
            if lang not in entry.answers or lang not in entry.shorts:
                continue
            basis = Prompt("legal_basis_intro", lang, (("legal_basis", ", ".join(entry.legal_basis)),
                                                      ("as_of", entry.as_of)))
            around = [phrases.say("answer_intro", lang), phrases.text(basis)] if entry.legal_basis else [
                phrases.say("answer_intro", lang)]
            full = content.fill(entry.answers[lang], lang)
            short = content.fill(entry.shorts[lang], lang)
            per["full"].append(seconds(tts, [*around, full, phrases.say("another_question", lang)], lang, cache))
            per["short"].append(seconds(tts, [*around, short, phrases.say("answer_menu", lang)], lang, cache))
            words["full"].append(len(full.split()))
            words["short"].append(len(short.split()))
        for kind in per:
            everything[kind] += per[kind]
        rows.append((lang, per, words))
        print(f"  {lang}: {len(per['full'])} topics", file=sys.stderr)
    print(f"Measured on {provenance()}; eSpeak NG voices at their default rate\n")
    print("| language | topics | full answer: median / p90 s | short answer: median / p90 s | "
          "words, full / short (median) |")
    print("|---|---|---|---|---|")
    for lang, per, words in [*rows, ("all", everything, {})]:
        full_s, short_s = per["full"], per["short"]
        if not full_s:
            continue
        word_cell = f"{statistics.median(words['full']):.0f} / {statistics.median(words['short']):.0f}" if words else ""
        print(f"| {lang} | {len(full_s)} | {statistics.median(full_s):.1f} / {percentile(full_s, 0.9):.1f} | "
              f"{statistics.median(short_s):.1f} / {percentile(short_s, 0.9):.1f} | {word_cell} |")
    if skipped:
        print(f"\nno eSpeak NG voice (the phone uses a fallback language): {', '.join(skipped)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
