"""Recognition on workers (``python app.py asr-worker``): questions go out on a Redis Stream, results
come back on a per-question list.

A call node adds each question to the stream of its priority (``questions``: finished questions;
``early``: recognition started before the caller had surely finished) with its deadline, then waits on
the question's result list. Workers read both streams as one consumer group (so each question goes to one
worker), questions first. A question a worker took but never acknowledged (the worker died) is claimed by
another worker once it has been idle ``claim_after_s`` (XAUTOCLAIM). A question past its deadline is
dropped by the worker and given up by the node, whose caller then hears the usual apology and is asked
again. Audio travels as 16-bit PCM; nothing is kept after the result is read (results expire).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
import uuid
from typing import Any

import numpy as np
import redis

from voice.core.domain import AudioClip, SpeechStatus, Transcript
from voice.runtime.scheduler import Priority

log = logging.getLogger(__name__)
GROUP = "asr-workers"
RESULT_TTL_S = 60


class RecognitionTimeout(RuntimeError):
    """No worker recognised the question before its deadline."""


def stream_names(prefix: str = "hotline:") -> dict[Priority, str]:
    return {Priority.QUESTION: f"{prefix}asr:questions", Priority.EARLY: f"{prefix}asr:early"}


def result_key(job: str, prefix: str = "hotline:") -> str:
    return f"{prefix}asr:result:{job}"


def encode_audio(audio: AudioClip) -> bytes:
    return (np.clip(audio.samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def decode_audio(data: bytes, rate: int) -> AudioClip:
    return AudioClip((np.frombuffer(data, dtype="<i2").astype(np.float32) / 32767.0), rate)


def transcript_json(transcript: Transcript) -> str:
    return json.dumps(dataclasses.asdict(transcript), ensure_ascii=False)


def transcript_from_json(raw: bytes | str) -> Transcript:
    data = json.loads(raw)
    if "error" in data:
        raise RuntimeError(f"recognition worker failed: {data['error']}")
    return Transcript(**dict(data, status=SpeechStatus(data["status"])))


class QueuedTranscriber:
    """The ``Transcriber`` port over the queue. ``client`` must allow blocking reads of ``deadline_s``."""

    name = "asr-queue"
    prioritised = True  # the scheduler passes each job's priority on

    def __init__(self, client: redis.Redis, deadline_s: float = 20.0, prefix: str = "hotline:") -> None:
        self.client = client
        self.deadline_s = deadline_s
        self.prefix = prefix
        self.streams = stream_names(prefix)

    def warm_up(self) -> None:
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise RuntimeError(f"HOTLINE_ASR_QUEUE: Redis unreachable ({exc})") from exc

    def transcribe(self, audio: AudioClip, language: str | None = None,
                   priority: Priority = Priority.QUESTION) -> Transcript:
        job = uuid.uuid4().hex
        deadline = time.time() + self.deadline_s
        fields: dict[Any, Any] = {"job": job, "audio": encode_audio(audio), "rate": audio.sample_rate,
                                  "language": language or "", "deadline": f"{deadline:.3f}",
                                  "queued": f"{time.time():.3f}"}
        self.client.xadd(self.streams[priority], fields, maxlen=10_000, approximate=True)
        found = self.client.blpop([result_key(job, self.prefix)], timeout=max(1, math.ceil(deadline - time.time())))
        if found is None:
            raise RecognitionTimeout(f"no recognition worker answered within {self.deadline_s:.0f} s")
        return transcript_from_json(found[1])
