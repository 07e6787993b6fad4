"""The spoken path, measured: each question spoken, sent through the phone codec, recognised and
answered by the live call engine, exactly as on a call.

Every question is synthesised with the configured voice (eSpeak NG by default: robotic speech, a
pessimistic input), cut to 8 kHz G.711 (optionally with line noise at a given SNR), then fed to a call
of the live engine (``LocalDriver``) as the caller's first question: language detected as on a call,
recognition, retrieval, the outcome policy. When the engine is unsure of the language it asks; the
simulated caller confirms a right guess and declines a wrong one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from voice.core.call_state import Phase
from voice.core.domain import AudioClip
from voice.core.engine_types import CallStarted, DigitsPressed, UtteranceFinished
from voice.core.languages import get_language
from voice.core.outcome import Outcome
from voice.qa.evaluation import judge, known_topics, summarise
from voice.qa.wer import word_error_rate
from voice.runtime.driver import LocalDriver, step_outcome
from voice.runtime.services import Services
from voice.stages.audio import phone_roundtrip
from voice.stages.tts.normalize import speakable


@dataclass(frozen=True)
class SpokenOptions:
    codec: str = "ulaw"  # ulaw (Twilio, North America) or alaw (European PBXs)
    noise_snr_db: float | None = None  # line noise, e.g. 20; None: a clean line
    seed: int = 1


def speakable_item(services: Services, lang: str) -> str | None:
    """Why a question in ``lang`` cannot be spoken and recognised here, or None when it can."""
    if not get_language(lang).recognisable:
        return "speech recognition has no model for this language (keypad menu on calls)"
    if not services.synthesizer.inner.has_voice(lang):
        return "no voice to speak it with"
    return None


def line_audio(services: Services, text: str, lang: str, options: SpokenOptions, rng: np.random.Generator) -> AudioClip:
    """The question as the hotline hears it over a phone line."""
    speech = services.synthesizer.inner.synthesize(speakable(text, lang), lang).audio
    samples = speech.samples.astype(np.float32)
    if options.noise_snr_db is not None and samples.size:
        power = float(np.mean(samples**2)) or 1e-9
        noise = rng.normal(0.0, np.sqrt(power / 10 ** (options.noise_snr_db / 10)), samples.size)
        samples = np.clip(samples + noise.astype(np.float32), -1.0, 1.0)
    padded = np.concatenate([np.zeros(int(0.3 * speech.sample_rate), np.float32), samples])
    return phone_roundtrip(AudioClip(padded, speech.sample_rate), options.codec)


def evaluate_spoken(
    services: Services,
    items: list[dict[str, Any]],
    options: SpokenOptions | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run every question through the spoken path; questions that cannot be spoken are listed apart."""
    options = options or SpokenOptions()
    services.warm_up()
    known = known_topics(services.answerer)
    policy = services.engine_config().outcome_policy
    rng = np.random.default_rng(options.seed)
    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for n, item in enumerate(items, start=1):
        lang = str(item["lang"])
        why = speakable_item(services, lang)
        if why is not None:
            skipped[lang] = why
        else:
            clip = line_audio(services, str(item["text"]), lang, options, rng)
            rows.append(_one(services, item, clip, known, policy))
        if progress is not None:
            progress(n)
    report = summarise(rows)
    for lang, r in report["summary"]["per_language"].items():
        r.update(_speech_rates([row for row in rows if row["lang"] == lang]))
    report["summary"]["overall"].update(_speech_rates(rows))
    report["skipped_languages"] = skipped
    return report


def _one(services: Services, item: dict[str, Any], clip: AudioClip, known: set[str], policy: Any) -> dict[str, Any]:
    driver = LocalDriver(services, call_id="spoken-eval", audio_format=None)
    driver.feed(CallStarted("spoken-eval"))
    started = time.perf_counter()
    actions = driver.feed(UtteranceFinished(clip))
    state = driver.state
    if state.phase is Phase.CONFIRM_LANGUAGE and state.pending is not None:
        # "Do you speak …?": the caller confirms a right guess; a wrong one leads to the language menu
        actions += driver.feed(DigitsPressed("1" if state.pending.language == item["lang"] else "2"))
    transcript = driver.last_transcript
    answer = driver.turns[-1].answer if driver.turns else None
    step, offered = step_outcome(driver, actions)
    # nothing answered, confirmed or handed over: asked to repeat (unsure, no speech) or the language menu
    outcome = Outcome(step) if step else Outcome.REPEAT
    row = judge(item, transcript, answer, policy, known, outcome, offered)
    heard = transcript.text if transcript is not None else ""
    row.update(
        {
            "heard": heard,
            "detected_language": transcript.language if transcript is not None else None,
            "wer": round(word_error_rate(str(item["text"]), heard), 3),
            "avg_logprob": transcript.avg_logprob if transcript is not None else None,
            "latency_ms": round((time.perf_counter() - started) * 1000.0, 1),
        }
    )
    return row


def _speech_rates(rows: list[dict[str, Any]]) -> dict[str, Any]:
    if not rows:
        return {"language_right": None, "wer": None}
    right = sum(1 for r in rows if r["detected_language"] == r["lang"])
    return {
        "language_right": round(right / len(rows), 3),
        "wer": round(float(np.mean([r["wer"] for r in rows])), 3),
        "latency_p50_ms": round(float(np.percentile([r["latency_ms"] for r in rows], 50)), 1),
    }


SPEECH_COLUMNS = (("language_right", "lang ok", 9), ("wer", "WER", 8))
