"""The record-and-answer caller of ``bench_traffic``: Twilio's part of a webhook call, in real time.

Each caller speaks a question (the clip's length), then Twilio's ``<Record timeout="3">`` waits 3 s of
silence before it posts the recording; the hotline fetches it from a local media server, answers with
TwiML, and the caller hears the first ``<Play>``. The caller's wait is counted from the last voiced
moment: the 3 s silence timeout, plus the recording webhook, plus fetching the first answer audio.
Twilio's own upload and network time is not in it (it cannot be measured here). The caller listens to
each answer in full (record mode has no barge-in), and rates when asked.
"""

from __future__ import annotations

import contextlib
import io
import random
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import requests
import soundfile as sf

from tools.simulate import SimulatedCall

SILENCE_TIMEOUT_S = 3.0  # twiml.py: <Record timeout="3">


class QuietCall(SimulatedCall):
    def say(self, line: str) -> None:
        self.log.append(line)


class BalancedCall(QuietCall):
    """A call whose webhooks a round-robin load balancer spreads over ``nodes`` (one after the other, the
    next one when a node does not answer), signed for the public address ``base_url`` as Twilio signs them."""

    nodes: list[str]
    _turn = 0

    def post(self, path: str, **form: str) -> tuple[ET.Element, float, dict[str, Any]]:
        for attempt in range(len(self.nodes)):
            node = self.nodes[(self._turn + attempt) % len(self.nodes)]
            self._turn += 1
            try:
                return self.post_to(node, path, **form)
            except requests.ConnectionError:
                if attempt == len(self.nodes) - 1:
                    raise
        raise RuntimeError("no node")


def first_audio_s(root: ET.Element) -> tuple[float, float]:
    """Seconds to fetch the first <Play> (what the caller waits for) and seconds of audio in all of them."""
    first, heard = 0.0, 0.0
    for i, play in enumerate(root.iter("Play")):
        started = time.perf_counter()
        response = requests.get(play.text or "", timeout=60)
        response.raise_for_status()
        if i == 0:
            first = time.perf_counter() - started
        heard += sf.info(io.BytesIO(response.content)).duration
    return first, heard


def record_caller(base: str, token: str, sid: str, media: str, files: list[Path], rng: random.Random,
                  level: Any, nodes: list[str] | None = None) -> None:
    """One caller in record mode; fills ``level`` like the streaming caller does. ``nodes``: several nodes
    behind the public address ``base``, each webhook to the next (``BalancedCall``)."""
    chosen = [rng.randrange(len(files)) for _ in range(rng.choice((1, 2, 2, 3)))]
    call = QuietCall(base, token, [files[i] for i in chosen], sid=sid)
    if nodes:
        call = BalancedCall(base, token, [files[i] for i in chosen], sid=sid)
        call.nodes = nodes
    began = time.monotonic()
    admitted = False
    try:
        root, _, _ = call.post("/twilio/voice")
        if root.find("Record") is None and root.find("Gather") is None and root.find("Hangup") is not None:
            with level.lock:
                level.refused += 1  # the busy message
            return
        with level.lock:
            level.live += 1
        admitted = True
        asked, rated = 0, False
        turn: dict[str, Any] = {}
        for _ in range(30):
            _, heard = first_audio_s(root)
            time.sleep(heard)  # the caller listens to all of it
            if root.find("Hangup") is not None or root.find("Dial") is not None:
                break
            record, gather = root.find("Record"), root.find("Gather")
            if record is not None and asked < len(chosen):
                path = files[chosen[asked]]
                time.sleep(sf.info(path).duration + SILENCE_TIMEOUT_S)  # speaks, then Twilio waits for silence
                root, took, turn = call.post("/twilio/recording", RecordingUrl=f"{media}/q{chosen[asked]}",
                                             RecordingDuration=str(round(sf.info(path).duration)))
                first, _ = first_audio_s(root)
                with level.lock:
                    level.waits_ms.append(SILENCE_TIMEOUT_S * 1000 + took + first * 1000)
                asked += 1
                continue
            if record is not None:
                root, _, turn = call.post("/twilio/recording", Digits="#")
            elif gather is not None and turn.get("outcome") == "confirm":
                root, _, turn = call.post("/twilio/digits", Digits="1")
            elif gather is not None and not rated:
                root, _, turn = call.post("/twilio/digits", Digits=str(rng.randint(1, 5)))
                rated = True
            elif root.find("Redirect") is not None:
                target = (root.findtext("Redirect") or "").split("/twilio", 1)[-1]
                root, _, turn = call.post(f"/twilio{target}")
            else:
                break
        with level.lock:
            level.durations_s.append(time.monotonic() - began)
    except Exception as exc:  # reported in the summary; one failed call does not stop the benchmark
        with level.lock:
            level.failed.append(f"{sid}: {exc}")
    finally:
        if admitted:
            with level.lock:
                level.live -= 1
        with contextlib.suppress(Exception):  # the end as Twilio reports it (a refused call too)
            call.post("/twilio/status", CallStatus="completed")
