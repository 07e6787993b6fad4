"""Should a recognition worker decode waiting questions as one batch? Whisper base int8 on this machine's
cores: n questions one after the other against the same n as one batch (encoder and decoder both batched,
CTranslate2's own batching), language given, greedy, the worker's settings otherwise. Also a worker's
throughput one at a time (questions per second), the figure the deployment sizing quotes.

    python bench/bench_asr_batch.py [--sizes 2,4] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.bench_stream import clips  # noqa: E402
from bench.realtime import percentile, provenance  # noqa: E402
from voice.stages.asr.whisper import WhisperOptions, WhisperTranscriber  # noqa: E402
from voice.stages.audio import resample  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="2,4", help="questions waiting at once")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import tempfile

    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer

    transcriber = WhisperTranscriber(WhisperOptions(cpu_threads=args.threads, workers=1),
                                     model_dir=ROOT / "var/models")
    transcriber.warm_up()
    model = transcriber._model  # the same model object the worker uses
    with tempfile.TemporaryDirectory() as tmp:
        questions = [resample(clip, 16000).samples.astype(np.float32) for _, clip in clips(Path(tmp))]
    tokenizer = Tokenizer(model.hf_tokenizer, True, task="transcribe", language="de")
    prompt = model.get_prompt(tokenizer, [], without_timestamps=True)

    def features(samples: np.ndarray) -> np.ndarray:
        return pad_or_trim(model.feature_extractor(samples))

    def decode(batch: list[np.ndarray]) -> float:
        started = time.perf_counter()
        encoded = model.encode(np.stack([features(s) for s in batch]))
        model.model.generate(encoded, [prompt] * len(batch), beam_size=1, max_length=len(prompt) + 128)
        return time.perf_counter() - started

    decode(questions[:1])  # warm
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        one_by_one, batched = [], []
        for r in range(args.repeats):
            group = [questions[(r * n + i) % len(questions)] for i in range(n)]
            one_by_one.append(sum(decode([q]) for q in group))
            batched.append(decode(group))
        rows.append((n, percentile(one_by_one, 0.5), percentile(batched, 0.5)))
    singles = []
    for q in questions:
        started = time.perf_counter()
        transcriber.transcribe(_clip(q))
        singles.append(time.perf_counter() - started)
    audio_s = sum(len(q) for q in questions) / 16000
    print(f"\nMeasured on {provenance()}; Whisper base int8, {args.threads} threads, {len(questions)} questions "
          f"({audio_s / len(questions):.1f} s of audio on average)\n")
    print("| questions waiting | one after the other (s) | one batch (s) | batch / one by one |")
    print("|---|---|---|---|")
    for n, seq, bat in rows:
        print(f"| {n} | {seq:.2f} | {bat:.2f} | {bat / seq:.2f} |")
    total = sum(singles)
    print(f"\nA worker one question at a time (the worker's own path: VAD, language detection, decoding): "
          f"{len(singles) / total:.2f} questions/s, p50 {percentile(singles, 0.5) * 1000:.0f} ms, "
          f"p95 {percentile(singles, 0.95) * 1000:.0f} ms per question")
    return 0


def _clip(samples: np.ndarray):  # noqa: ANN202
    from voice.core.domain import AudioClip

    return AudioClip(samples, 16000)


if __name__ == "__main__":
    sys.exit(main())
