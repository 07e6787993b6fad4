"""Prometheus metrics of one process: calls, admission, the recogniser's queue and the stages' latency.

Each runtime has its own registry (several apps in one test process do not collide); ``/metrics`` serves it
in Prometheus' text format. The call and queue figures are read from the runtime when scraped; stage
latencies and errors are observed by the driver as each stage runs.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from voice.runtime.scheduler import Scheduler


class Runtime(Protocol):
    """What the metrics read of the runtime (``voice.runtime.runtime.Runtime``)."""

    scheduler: Scheduler
    refused: Tally[str]
    draining: bool

    def live_by_transport(self) -> dict[str, int]: ...


STAGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.stage_seconds = Histogram("hotline_stage_seconds", "Time a call stage took (asr, retrieval, tts)",
                                       ["stage"], buckets=STAGE_BUCKETS, registry=self.registry)
        self.stage_errors = Counter("hotline_stage_errors", "Stage failures that the caller heard as an apology",
                                    ["stage"], registry=self.registry)

    def watch(self, runtime: Runtime) -> None:
        self.registry.register(_RuntimeCollector(runtime))

    def observe(self, stage: str, seconds: float, failed: bool = False) -> None:
        self.stage_seconds.labels(stage).observe(seconds)
        if failed:
            self.stage_errors.labels(stage).inc()


class _RuntimeCollector(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        rt, scheduler = self.runtime, self.runtime.scheduler
        calls = GaugeMetricFamily("hotline_calls_in_progress", "Calls in progress in this process",
                                  labels=["transport"])
        for transport, count in rt.live_by_transport().items():
            calls.add_metric([transport], count)
        yield calls
        refused = CounterMetricFamily("hotline_calls_refused", "Calls refused by admission control", labels=["reason"])
        for reason, count in rt.refused.items():
            refused.add_metric([reason], count)
        yield refused
        waiting, running = scheduler.load()
        queue = GaugeMetricFamily("hotline_recognition_queue", "Recognitions waiting and running", labels=["state"])
        queue.add_metric(["waiting"], waiting)
        queue.add_metric(["running"], running)
        yield queue
        yield GaugeMetricFamily("hotline_recognition_expected_wait_seconds",
                                "Expected wait of a question finished now", value=scheduler.expected_wait_s())
        yield GaugeMetricFamily("hotline_recognition_seconds", "Moving average of one recognition",
                                value=scheduler.stage_s)
        yield CounterMetricFamily("hotline_recognition_busy_seconds", "Recognition time summed over all jobs",
                                  value=scheduler.busy_s)
        yield CounterMetricFamily("hotline_questions", "Finished questions recognised", value=scheduler.questions)
        yield GaugeMetricFamily("hotline_recognition_slots", "Recognitions that may run at once",
                                value=scheduler.slots)
        yield GaugeMetricFamily("hotline_draining", "1 while this node drains (SIGTERM): no new calls",
                                value=1.0 if rt.draining else 0.0)
