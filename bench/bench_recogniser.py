"""How many recognitions should run at once? Bursts of real questions through the scheduler.

For each setting (scheduler slots = the model's parallel workers, and the CPU threads each gets), the
real Whisper transcriber and the real scheduler take bursts of questions that all end at the same moment
(the recorded test clips and eSpeak NG questions, through the phone codec), as the callers of a busy
line would. Reported per setting: the wait of each question from its endpoint to its transcript,
p50 / p95 / max, the time to clear the burst, and questions per second. Settings alternate within
one run, so machine drift hits them alike.

    python bench/bench_recogniser.py [--burst 8] [--rounds 3] [--settings 1x2,2x1]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_stream import SPOKEN_QUESTIONS  # noqa: E402
from bench.realtime import percentile, provenance  # noqa: E402
from voice.core.domain import AudioClip  # noqa: E402
from voice.runtime.recognition import ScheduledTranscriber  # noqa: E402
from voice.runtime.scheduler import Priority, Scheduler  # noqa: E402
from voice.stages.asr.whisper import WhisperOptions, WhisperTranscriber  # noqa: E402
from voice.stages.audio import load_audio, phone_roundtrip  # noqa: E402
from voice.stages.tts.espeak import EspeakSynthesizer  # noqa: E402


def clips() -> list[AudioClip]:
    out = [phone_roundtrip(load_audio(p), "ulaw") for p in sorted((ROOT / "tests/data/speech").glob("*.*"))
           if p.suffix in (".wav", ".ogg")]
    tts = EspeakSynthesizer()
    out += [phone_roundtrip(tts.synthesize(text, lang).audio, "ulaw") for lang, text in SPOKEN_QUESTIONS.items()]
    return out


def burst(recogniser: ScheduledTranscriber, pool: list[AudioClip], size: int, offset: int) -> list[float]:
    """``size`` questions ending now; each one's wait (seconds) from the endpoint to its transcript."""
    endpoint = time.perf_counter()
    tickets = []
    for i in range(size):
        clip = replace(pool[(offset + i) % len(pool)], ended_at=endpoint)
        tickets.append(recogniser.submit(clip, None, Priority.QUESTION))
    done: list[float] = []
    for ticket in tickets:
        ticket.future.add_done_callback(lambda _f: done.append(time.perf_counter() - endpoint))
    for ticket in tickets:
        ticket.future.result()
    while len(done) < len(tickets):  # the callbacks run just after the results are set
        time.sleep(0.001)
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--burst", type=int, default=8, help="questions ending at the same moment (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="bursts per setting (default 3)")
    parser.add_argument("--settings", default="1x2,2x1", help="SLOTSxTHREADS, comma-separated (default 1x2,2x1)")
    args = parser.parse_args()
    pool = clips()
    setups = []
    for spec in args.settings.split(","):
        slots, threads = (int(x) for x in spec.split("x"))
        model = WhisperTranscriber(WhisperOptions(cpu_threads=threads, workers=slots), ROOT / "var/models")
        model.warm_up()
        model.transcribe(pool[0], None)
        setups.append((spec, ScheduledTranscriber(model, Scheduler(slots))))
    results: dict[str, tuple[list[float], list[float]]] = {spec: ([], []) for spec, _ in setups}
    for r in range(args.rounds):
        for spec, recogniser in setups:
            started = time.perf_counter()
            waits = burst(recogniser, pool, args.burst, r * args.burst)
            results[spec][0].extend(waits)
            results[spec][1].append(time.perf_counter() - started)
            print(f"  round {r + 1}, {spec}: burst cleared in {results[spec][1][-1]:.2f} s", file=sys.stderr)
    print(f"\nMeasured on {provenance()}\n")
    print("| slots x threads | questions | wait p50 / p95 / max (s) | burst cleared, mean (s) | questions/s |")
    print("|---|---|---|---|---|")
    for spec, (waits, spans) in results.items():
        mean_span = sum(spans) / len(spans)
        print(f"| {spec} | {len(waits)} | {percentile(waits, 0.5):.2f} / {percentile(waits, 0.95):.2f} / "
              f"{max(waits):.2f} | {mean_span:.2f} | {args.burst / mean_span:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
