"""Server-side latency of a Twilio turn: from the recording webhook to the answer's first audio byte.

Runs the real app in-process (real Whisper, retrieval, eSpeak, SQLite store) behind Flask's test client,
serves real recorded questions from a local media server, and measures per turn: the recording webhook
(fetch, ASR, retrieval, synthesis of everything to be played) and the first <Play> fetch.

    python bench/bench_webhook.py [--runs 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from twilio.request_validator import RequestValidator  # noqa: E402

from app import create_app, create_services  # noqa: E402
from bench.realtime import provenance  # noqa: E402
from tools.simulate import serve_media  # noqa: E402
from voice.runtime.config import Settings  # noqa: E402
from voice.storage.store import SqlCallStore  # noqa: E402

TOKEN = "bench-token"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    clips = sorted((ROOT / "tests/data/speech").glob("*.*"))
    clips = [c for c in clips if c.suffix in (".wav", ".ogg")]
    with tempfile.TemporaryDirectory() as tmp:
        settings = replace(Settings.from_env(), twilio_auth_token=TOKEN, audio_cache_dir=Path(tmp) / "audio",
                           recording_hosts="http://127.0.0.1")  # the local media server plays Twilio
        store = SqlCallStore(f"sqlite:///{tmp}/calls.db", Path(tmp) / "spool", b"bench")
        app = create_app(settings, create_services(settings), store=store)
        client = app.test_client()
        server, media = serve_media(clips)

        def post(sid: str, path: str, **form: str) -> tuple[ET.Element, float, str]:
            params = {"CallSid": sid, "From": "+4930000", **form}
            sig = RequestValidator(TOKEN).compute_signature(f"http://localhost{path}", params)
            started = time.perf_counter()
            response = client.post(path, data=params, headers={"X-Twilio-Signature": sig})
            took = (time.perf_counter() - started) * 1000
            return ET.fromstring(response.get_data(as_text=True)), took, response.headers.get("X-Hotline-Timings", "")

        webhook: list[float] = []
        first_audio: list[float] = []
        stages: dict[str, list[float]] = {"asr": [], "retrieval": [], "tts": []}
        for run in range(args.runs):
            for i, _clip in enumerate(clips):
                sid = f"CA{run}-{i}"
                post(sid, "/twilio/voice")
                root, took, timing = post(sid, "/twilio/recording", RecordingUrl=f"{media}/q{i}", RecordingDuration="5")
                webhook.append(took)
                for part in filter(None, timing.split(";")):
                    name, value = part.split("=")
                    stages.setdefault(name, []).append(float(value))
                play = next(root.iter("Play"))
                started = time.perf_counter()
                client.get((play.text or "").replace("http://localhost", "")).get_data()
                first_audio.append((time.perf_counter() - started) * 1000)
        server.shutdown()
    print(f"Measured on {provenance()}\n")
    print("| stage | n | p50 ms | p95 ms |")
    print("|---|---|---|---|")
    rows = [("recording webhook, total (fetch, ASR, retrieval, synthesis)", webhook)]
    rows += [(f"  of which {k}", v) for k, v in stages.items() if v]
    rows += [("first answer audio fetch (cached WAV)", first_audio)]
    for name, values in rows:
        print(f"| {name} | {len(values)} | {np.percentile(values, 50):.0f} | {np.percentile(values, 95):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
