"""A call record that looks like a fortnight on a real line, for the dashboard's tests and screenshots.

Callers ask the knowledge base's own sample questions in their languages, some questions go to a person,
some answers are interrupted, about two calls in three are rated, and every question and answer has a
short recording under ``<data dir>/recordings``. Deterministic for a given seed.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml
from sqlalchemy.engine import Engine

from voice.storage.schema import calls, turns

LANGUAGE_WEIGHTS = {"de": 34, "en": 14, "tr": 11, "ar": 10, "uk": 9, "ru": 7, "fa": 6, "ro": 3, "pl": 3, "sq": 3}
OUT_OF_SCOPE = {
    "de": ["Wann kommt mein Kindergeld?", "Ich brauche einen Termin beim Jobcenter.", "Wo beantrage ich Wohngeld?"],
    "en": ["How do I file my tax return?", "Can you help me with my rent contract?"],
    "tr": ["Ehliyetimi nasıl değiştiririm?"],
    "ar": ["كيف أسجل ابني في المدرسة؟"],
    "uk": ["Як отримати податковий номер?"],
    "ru": ["Как получить налоговый номер?"],
}
TOPICS = (
    "aufenthaltserlaubnis-verlaengern", "termin-vereinbaren", "antragsstatus", "einbuergerung-voraussetzungen",
    "blaue-karte-eu", "fiktionsbescheinigung", "adresse-aendern", "neuer-pass", "gebuehren", "ehegattennachzug",
    "arbeitserlaubnis", "ukraine-schutz", "niederlassungserlaubnis", "oeffnungszeiten-kontakt", "studium",
)


@dataclass(frozen=True)
class Seeded:
    call_ids: list[str]
    by_language: dict[str, int]
    recordings: Path


def _clip(rng: random.Random, seconds: float) -> np.ndarray:
    """A voice-like sound: a few syllables of a gliding tone with noise (8 kHz, as on the phone)."""
    rate = 8000
    t = np.arange(int(seconds * rate)) / rate
    pitch = 140 + 40 * np.sin(2 * np.pi * rng.uniform(0.5, 1.5) * t)
    syllables = (np.sin(2 * np.pi * rng.uniform(3, 5) * t) > -0.2).astype(np.float32)
    voice = np.sin(2 * np.pi * np.cumsum(pitch) / rate) + 0.3 * np.sin(4 * np.pi * np.cumsum(pitch) / rate)
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 0.02, t.size)
    return (0.25 * voice * syllables + noise).astype(np.float32)


def seed_calls(engine: Engine, prompts_dir: Path, data_dir: Path, calls_count: int = 90, seed: int = 7) -> Seeded:
    from pipeline.content import load_content

    content = load_content(prompts_dir / "office.example.yaml", prompts_dir / "figures.yaml")
    rng = random.Random(seed)
    entries = {t: yaml.safe_load((prompts_dir / "faq" / f"{t}.yaml").read_text(encoding="utf-8")) for t in TOPICS}
    recordings = data_dir / "recordings"
    recordings.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    languages, weights = zip(*LANGUAGE_WEIGHTS.items(), strict=True)
    call_rows, turn_rows, ids = [], [], []
    by_language: dict[str, int] = {}
    for n in range(calls_count):
        call_id = str(uuid.UUID(int=rng.getrandbits(128)))
        lang = rng.choices(languages, weights)[0]
        by_language[lang] = by_language.get(lang, 0) + 1
        day = rng.choices(range(14), [3 if d % 7 in (5, 6) else 10 for d in range(14)])[0]
        started = (now - dt.timedelta(days=day)).replace(hour=rng.randint(8, 17), minute=rng.randint(0, 59))
        if started > now:
            started -= dt.timedelta(days=1)
        at = started + dt.timedelta(seconds=25)  # greeting and language menu
        handovers = 0
        folder = recordings / call_id
        folder.mkdir(exist_ok=True)
        for number in range(1, rng.choices([1, 2, 3], [6, 3, 1])[0] + 1):
            handover = rng.random() < 0.16
            topic = None if handover else rng.choice(TOPICS)
            if handover:
                transcript = rng.choice(OUT_OF_SCOPE.get(lang, OUT_OF_SCOPE["en"]))
                answer_text = None
                handovers += 1
            else:
                entry = entries[str(topic)]
                transcript = rng.choice(entry["questions"][lang])
                answer_text = content.fill(" ".join(entry["answer"][lang]["text"].split()), lang)
            asr = rng.uniform(350, 1400) * (1.6 if n % 17 == 0 else 1.0)
            caller_wav = folder / f"turn{number}-caller.wav"
            sf.write(caller_wav, _clip(rng, rng.uniform(1.5, 3.0)), 8000, subtype="PCM_16")
            answer_wav = None
            if not handover:
                answer_wav = folder / f"turn{number}-answer.wav"
                sf.write(answer_wav, _clip(rng, 2.0), 8000, subtype="PCM_16")
            score = round(rng.uniform(0.86, 0.97) if topic else rng.uniform(0.7, 0.84), 3)
            turn_rows.append(
                {
                    "call_id": call_id, "turn": number, "created_at": at, "status": "ok", "transcript": transcript,
                    "language": lang, "language_probability": round(rng.uniform(0.55, 0.99), 3), "topic": topic,
                    "handover": handover, "score": score,
                    "answer_language": lang, "asr_ms": round(asr, 1), "retrieval_ms": round(rng.uniform(18, 90), 1),
                    "tts_ms": round(rng.uniform(40, 700), 1) if topic else None, "audio_path": str(caller_wav),
                    "interrupted": bool(topic) and rng.random() < 0.08,
                    "endpoint_ms": round(rng.uniform(480, 620), 1), "first_audio_ms": round(rng.uniform(300, 1600), 1),
                    "answer_text": answer_text, "answer_audio_path": str(answer_wav) if answer_wav else None,
                }
            )
            at += dt.timedelta(seconds=rng.randint(30, 70))
        rated = rng.random() < 0.65
        rating = None
        if rated:
            rating = rng.choices([1, 2, 3, 4, 5], [4, 3, 3, 5, 6] if handovers else [1, 1, 2, 6, 10])[0]
        call_rows.append(
            {
                "id": call_id, "external_id": f"CA{call_id.replace('-', '')[:32]}", "transport": "twilio",
                "caller_hash": None, "started_at": started, "ended_at": at + dt.timedelta(seconds=15),
                "end_reason": "handover" if handovers else rng.choice(["caller_hangup", "completed"]),
                "language": lang, "handovers": handovers, "rating": rating,
                "rated_at": at + dt.timedelta(seconds=10) if rated else None,
            }
        )
        ids.append(call_id)
    with engine.begin() as conn:
        conn.execute(calls.insert(), call_rows)
        conn.execute(turns.insert(), turn_rows)
    return Seeded(ids, by_language, recordings)


def dashboard_app(folder: Path, calls_count: int = 90, **settings_overrides: object) -> tuple[object, object, Seeded]:
    """The hotline's web app on fake engines and a seeded SQLite call store in ``folder``, with a copy of
    the knowledge base (review marks are written there, never into the repository), an ``editor`` account
    "erika" and a ``viewer`` account "victor" (password: the name repeated, e.g. "erikaerika!").

    Returns (app, store, seeded)."""
    import shutil

    from app import create_app
    from tests.fakes import FakeAnswerer, FakeSynthesizer, FakeTranscriber
    from voice.core.languages import LANGUAGES
    from voice.runtime.config import Settings
    from voice.runtime.phrases import load_phrases
    from voice.runtime.services import Services
    from voice.stages.tts.cache import CachedSynthesizer
    from voice.storage.accounts import Accounts
    from voice.storage.factory import make_store

    root = Path(__file__).resolve().parents[1]
    prompts = folder / "prompts"
    shutil.copytree(root / "prompts", prompts)
    settings = Settings.from_env(
        {},
        **{
            "prompts_dir": prompts,
            "office_profile": prompts / "office.example.yaml",
            "data_dir": folder / "data",
            **settings_overrides,
        },
    )
    from pipeline.content import load_content

    content = load_content(settings.office_profile, prompts / "figures.yaml")
    phrases = load_phrases(prompts / "phrases", tuple(LANGUAGES), content)
    synth = CachedSynthesizer(FakeSynthesizer(), folder / "tts-cache")
    services = Services(settings, FakeTranscriber(), FakeAnswerer(), synth, phrases)
    store = make_store(settings)
    store.warm_up()
    seeded = seed_calls(store.engine, prompts, settings.data_dir, calls_count)
    accounts = Accounts(store.engine)
    accounts.add("erika", "erikaerika!", "editor")
    accounts.add("victor", "victorvictor!", "viewer")
    app = create_app(settings, services, warm=False, store=store)
    return app, store, seeded
