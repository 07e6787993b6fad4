"""Fake engines that satisfy the stage Protocols, for unit tests (no models, microseconds)."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from pipeline.result import FaqAnswer
from voice.core.domain import AudioClip, Speech, SpeechStatus, Transcript
from voice.core.ports import NoVoiceError


class FakeTranscriber:
    name = "fake-asr"

    def __init__(self, *results: Transcript) -> None:
        self.results = list(results)
        self.calls: list[AudioClip] = []

    def warm_up(self) -> None:
        pass

    def transcribe(self, audio: AudioClip, language: str | None = None) -> Transcript:
        self.calls.append(audio)
        return self.results.pop(0)


def said(text: str, language: str = "de", probability: float = 0.95) -> Transcript:
    return Transcript(text, language, probability, 3.0, SpeechStatus.OK)


SILENCE = Transcript("", None, 0.0, 3.0, SpeechStatus.NO_SPEECH, "silence")


@dataclass
class FakeAnswerer:
    """Answers one known question per topic; anything else is handed over."""

    topics: dict[str, str] = field(default_factory=lambda: {"verlängern": "aufenthaltserlaubnis-verlaengern"})
    calls: list[tuple[str, str | None]] = field(default_factory=list)

    def warm_up(self) -> None:
        pass

    def answer(self, text: str, language: str | None = None) -> FaqAnswer:
        self.calls.append((text, language))
        lang = language or "de"
        for word, topic in self.topics.items():
            if word in text:
                return FaqAnswer(topic, False, lang, f"Antwort zu {topic}", ["§ 81 AufenthG"], "2026-11-01", 0.95)
        return FaqAnswer(None, True, lang, "", [], "", 0.5, reason="low similarity")

    def answer_topic(self, topic: str, language: str) -> FaqAnswer:
        self.calls.append((f"#{topic}", language))
        return FaqAnswer(topic, False, language, f"Antwort zu {topic}", ["§ 1"], "2026-11-01", 1.0)


class FakeSynthesizer:
    name = "fake-tts"
    version = "1"

    def __init__(self, voices: tuple[str, ...] = ("de", "en", "fa", "ar", "tr")) -> None:
        self.voices = voices
        self.calls: list[tuple[str, str]] = []

    def warm_up(self) -> None:
        pass

    def has_voice(self, language: str) -> bool:
        return language in self.voices

    def identity(self, language: str) -> dict[str, object]:
        return {"engine": self.name, "version": self.version}

    def synthesize(self, text: str, language: str) -> Speech:
        if language not in self.voices:
            raise NoVoiceError(language)
        self.calls.append((text, language))
        samples = (0.1 * np.sin(np.arange(800) / 5.0)).astype(np.float32)
        return Speech(AudioClip(samples, 8000), language, language, self.name)


def tone(seconds: float = 1.0, rate: int = 16000) -> AudioClip:
    t = np.arange(int(seconds * rate)) / rate
    return AudioClip((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)


QUESTION = "Wie verlängere ich meine Aufenthaltserlaubnis?"


class StubTranscriber:
    """Returns ``text`` for any audio, after ``delay_s`` (to stand in for a slow recogniser)."""

    name = "stub-asr"

    def __init__(self) -> None:
        self.transcript: Transcript = said(QUESTION)
        self.delay_s = 0.0
        self.calls = 0

    def warm_up(self) -> None:
        pass

    def transcribe(self, audio: AudioClip, language: str | None = None) -> Transcript:
        self.calls += 1
        time.sleep(self.delay_s)
        return self.transcript


def stub_asr_services(settings, answerer, audio_dir):
    """The real services for a real-time transport test: real retrieval (``answerer``), eSpeak NG cached in
    ``audio_dir`` (shared by a test module, so prompts are synthesised once), and a ``StubTranscriber``."""
    from app import create_services
    from voice.runtime.texting import AnswerTexter
    from voice.stages.tts.cache import CachedSynthesizer
    from voice.stages.tts.espeak import EspeakSynthesizer

    services = create_services(settings)
    services.answerer = answerer
    if isinstance(services.texter, AnswerTexter):  # the written answer comes from the same (warm) retrieval
        services.texter.answerer = answerer
    services.synthesizer = CachedSynthesizer(EspeakSynthesizer(), audio_dir)
    transcriber = StubTranscriber()
    services.transcriber = transcriber
    return services, transcriber


class FakeMessagingApi(http.server.BaseHTTPRequestHandler):
    requests: list[dict] = []
    reply: tuple[int, dict] = (201, {})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        FakeMessagingApi.requests.append({"path": self.path, "auth": self.headers.get("Authorization", ""),
                                          "form": {k: v[0] for k, v in form.items()}})
        status, body = FakeMessagingApi.reply
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def messaging_api() -> Iterator[str]:
    """A local HTTP server standing in for Twilio's Messaging API (unreachable from these machines)."""
    FakeMessagingApi.requests = []
    FakeMessagingApi.reply = (201, {"sid": "SM0001", "status": "queued"})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeMessagingApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
