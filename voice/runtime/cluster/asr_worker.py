"""``python app.py asr-worker``: loads the recogniser once and serves questions from the Redis Streams of
``voice.runtime.cluster.asr_queue`` until SIGTERM (the question in hand is finished first)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Histogram

from voice.core.ports import Transcriber
from voice.runtime.cluster.asr_queue import (
    GROUP,
    RESULT_TTL_S,
    decode_audio,
    result_key,
    stream_names,
    transcript_json,
)
from voice.runtime.scheduler import Priority

log = logging.getLogger(__name__)


class AsrWorker:
    def __init__(self, client: redis.Redis, transcriber: Transcriber, name: str | None = None,
                 claim_after_s: float = 5.0, prefix: str = "hotline:") -> None:
        self.client = client
        self.transcriber = transcriber
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.claim_after_ms = int(claim_after_s * 1000)
        self.prefix = prefix
        self.streams = stream_names(prefix)
        self.served = 0
        self.dropped = 0
        self.registry = CollectorRegistry()  # this worker's metrics (``--metrics-port``)
        self.queue_wait = Histogram("hotline_asr_worker_queue_wait_seconds", "From enqueued to taken by this worker",
                                    registry=self.registry, buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16))
        self.recognition = Histogram("hotline_asr_worker_recognition_seconds", "Recognition of one question",
                                     registry=self.registry, buckets=(0.25, 0.5, 1, 1.5, 2, 3, 5, 8))

    def ensure_groups(self) -> None:
        for stream in self.streams.values():
            try:
                self.client.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def run(self, stop: threading.Event) -> None:
        self.ensure_groups()
        log.info("recognition worker %s serving %s", self.name, ", ".join(self.streams.values()))
        while not stop.is_set():
            try:
                job = self._claim() or self._next(block_ms=1000)
                if job is not None:
                    self.serve(*job)
            except redis.RedisError as exc:
                log.warning("Redis unreachable (%s); retrying in 1 s", exc)
                stop.wait(1.0)

    def _claim(self) -> tuple[str, str, dict[bytes, bytes]] | None:
        """A question another worker took and left (it died), once idle long enough."""
        for priority in (Priority.QUESTION, Priority.EARLY):
            stream = self.streams[priority]
            _, entries, *_ = self.client.xautoclaim(stream, GROUP, self.name, self.claim_after_ms, "0-0", count=1)
            for entry_id, fields in entries:
                if fields:
                    log.warning("question %s claimed from a worker that did not finish it", _text(entry_id))
                    return stream, _text(entry_id), fields
        return None

    def _next(self, block_ms: int) -> tuple[str, str, dict[bytes, bytes]] | None:
        questions, early = self.streams[Priority.QUESTION], self.streams[Priority.EARLY]
        found: Any = self.client.xreadgroup(GROUP, self.name, {questions: ">"}, count=1)  # questions first
        if not found:
            found = self.client.xreadgroup(GROUP, self.name, {questions: ">", early: ">"}, count=1, block=block_ms)
        for stream, entries in found or []:
            for entry_id, fields in entries:
                return _text(stream), _text(entry_id), fields
        return None

    def serve(self, stream: str, entry_id: str, fields: dict[bytes, bytes]) -> None:
        """Recognise one question; its result and its acknowledgement are written in one transaction."""
        job = _text(fields[b"job"])
        late = float(fields[b"deadline"]) - time.time()
        pipe = self.client.pipeline(transaction=True)
        if late <= 0:
            self.dropped += 1
            log.warning("question %s dropped: its deadline passed %.1f s ago", job, -late)
        else:
            if b"queued" in fields:
                self.queue_wait.observe(max(0.0, time.time() - float(fields[b"queued"])))
            try:
                audio = decode_audio(fields[b"audio"], int(fields[b"rate"]))
                with self.recognition.time():
                    transcript = self.transcriber.transcribe(audio, _text(fields[b"language"]) or None)
                payload = transcript_json(transcript)
            except Exception as exc:  # the node hears of it at once (its caller gets the apology)
                log.exception("question %s could not be recognised", job)
                payload = f'{{"error": "{type(exc).__name__}"}}'
            key = result_key(job, self.prefix)
            pipe.rpush(key, payload)
            pipe.expire(key, RESULT_TTL_S)
            self.served += 1
        pipe.xack(stream, GROUP, entry_id)
        pipe.xdel(stream, entry_id)
        pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def serve_forever(redis_url: str, transcriber: Transcriber, metrics_port: int = 0) -> int:
    """Run one worker until SIGTERM or Ctrl-C; ``metrics_port`` serves its counters to Prometheus."""
    import signal

    from voice.runtime.cluster.connection import connect

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    transcriber.warm_up()
    worker = AsrWorker(connect(redis_url, read_timeout_s=10.0), transcriber)
    if metrics_port:
        _serve_metrics(worker, metrics_port)
    print(f"recognition worker {worker.name} ready ({getattr(transcriber, 'name', '')})", flush=True)
    worker.run(stop)
    print(f"recognition worker {worker.name} stopped: {worker.served} served, {worker.dropped} dropped", flush=True)
    return 0


def _serve_metrics(worker: AsrWorker, port: int) -> None:
    from prometheus_client import start_http_server
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    class Collector:
        def collect(self) -> Any:
            yield CounterMetricFamily("hotline_asr_worker_served", "Questions recognised", value=worker.served)
            yield CounterMetricFamily("hotline_asr_worker_dropped", "Questions dropped past their deadline",
                                      value=worker.dropped)
            depth = GaugeMetricFamily("hotline_asr_queue_depth", "Questions waiting in the stream", labels=["stream"])
            for stream in worker.streams.values():
                with contextlib.suppress(redis.RedisError):  # Redis away: no depth this scrape
                    depth.add_metric([stream], float(worker.client.xlen(stream)))
            yield depth

    worker.registry.register(Collector())
    start_http_server(port, registry=worker.registry)
