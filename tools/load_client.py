"""Plays Twilio's part of a Media Streams call over a real WebSocket: for tests and the benchmark.

``StreamCaller`` sends the signed voice webhook, connects to the ``<Stream>`` URL the hotline returns,
and then behaves like Twilio's media server: a 20 ms mu-law frame every 20 ms (the caller's recorded
speech when it talks, line noise otherwise), DTMF events, and marks echoed once the audio before them
has been "played" at real-time speed. Everything the hotline sends is kept with its arrival time, so a
test or benchmark can measure from the caller's last voiced frame to the first answer frame.
"""

from __future__ import annotations

import base64
import contextlib
import json
import queue
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import requests
import simple_websocket
from twilio.request_validator import RequestValidator

from voice.core.domain import AudioClip
from voice.stages.audio import PHONE_RATE, resample
from voice.stages.g711 import mulaw_decode, mulaw_encode

FRAME = 160  # samples per 20 ms at 8 kHz


def trim_silence(clip: AudioClip, floor_db: float = -35.0) -> AudioClip:
    """8 kHz audio with leading and trailing silence cut (frames below ``floor_db`` of the peak)."""
    audio = resample(clip, PHONE_RATE).samples
    frames = audio[: len(audio) // FRAME * FRAME].reshape(-1, FRAME)
    level = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-9)
    voiced = np.flatnonzero(level > level.max() + floor_db)
    if len(voiced) == 0:
        return AudioClip(np.zeros(0, dtype=np.float32), PHONE_RATE)
    return AudioClip(frames[voiced[0] : voiced[-1] + 1].reshape(-1).copy(), PHONE_RATE)


@dataclass
class Received:
    """What came back from the hotline, in arrival order (times from ``time.monotonic``)."""

    media: list[tuple[float, bytes]] = field(default_factory=list)  # (arrival, mu-law payload)
    marks: list[tuple[float, str]] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    closed_at: float | None = None
    close_reason: str = ""

    def first_media_after(self, moment: float) -> float | None:
        return next((t for t, _ in self.media if t > moment), None)

    def audio_seconds_between(self, start: float, end: float) -> float:
        return sum(len(p) for t, p in self.media if start < t <= end) / PHONE_RATE

    def audio(self, start: float = 0.0, end: float = float("inf")) -> AudioClip:
        """The hotline's audio that arrived between ``start`` and ``end``, decoded."""
        return AudioClip(mulaw_decode(b"".join(p for t, p in self.media if start < t <= end)), PHONE_RATE)


class StreamCaller:
    """One simulated caller on a hotline in Media Streams mode."""

    def __init__(
        self, base_url: str, auth_token: str, call_sid: str, caller: str = "+4915112345678", noise_db: float = -60.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth_token = auth_token
        self.call_sid = call_sid
        self.caller = caller
        self.stream_sid = "MZ" + call_sid[2:]
        self.received = Received()
        self._noise = 10 ** (noise_db / 20.0)
        self._outgoing: queue.Queue[np.ndarray] = queue.Queue()
        self._ws: Any = None
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._playout_until = 0.0  # when the far end would have finished playing what it received
        self._pending_marks: list[tuple[float, str]] = []
        self._threads: list[threading.Thread] = []
        self._sequence = 0
        self.action_url = ""

    # ---- Twilio's HTTP side ----------------------------------------------------------------------

    def post(self, url: str, **form: str) -> ET.Element:
        params = {"CallSid": self.call_sid, "From": self.caller, "AccountSid": "ACtest", **form}
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        response = requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=30)
        response.raise_for_status()
        return ET.fromstring(response.text)

    def dial(self) -> None:
        """The call arrives: voice webhook, then the WebSocket the TwiML names, then ``start``."""
        root = self.post(f"{self.base_url}/twilio/voice", CallStatus="ringing")
        connect, stream = root.find("Connect"), root.find("Connect/Stream")
        if connect is None or stream is None:
            raise RuntimeError(f"the hotline did not answer with <Connect><Stream>: {ET.tostring(root)!r}")
        self.action_url = connect.get("action", "")
        params = {p.get("name", ""): p.get("value", "") for p in stream.iter("Parameter")}
        self.connect(stream.get("url", ""), params)

    def connect(self, url: str, parameters: dict[str, str]) -> None:
        self._ws = simple_websocket.Client.connect(url)
        self.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        start = {
            "accountSid": "ACtest",
            "streamSid": self.stream_sid,
            "callSid": self.call_sid,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": parameters,
        }
        self.send({"event": "start", "start": start})
        for target in (self._send_audio, self._receive):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stream_ended(self) -> ET.Element:
        """What Twilio does after the hotline closed the socket: ask the ``<Connect action>`` URL."""
        return self.post(self.action_url, CallStatus="in-progress")

    # ---- the caller's side -------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        with self._send_lock:
            self._sequence += 1
            self._ws.send(json.dumps({**message, "sequenceNumber": str(self._sequence), "streamSid": self.stream_sid}))

    def say(self, clip: AudioClip) -> float:
        """Speak ``clip`` (8 kHz) in real time; returns when its last frame went out (monotonic time)."""
        samples = resample(clip, PHONE_RATE).samples
        frames = [samples[i : i + FRAME] for i in range(0, len(samples), FRAME)]
        done = threading.Event()
        self._marker_done = done
        self.speech_started_at = None
        for frame in frames:
            self._outgoing.put(np.pad(frame, (0, FRAME - len(frame))))
        self._outgoing.put(np.zeros(0, dtype=np.float32))  # a marker: all frames before it were sent
        done.wait(timeout=len(frames) * 0.02 + 30)
        return self._last_voiced_at

    def press(self, digit: str) -> float:
        self.send({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": digit}})
        return time.monotonic()

    def hang_up(self) -> None:
        if not self._stop.is_set():
            self.send({"event": "stop", "stop": {"accountSid": "ACtest", "callSid": self.call_sid}})
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                self._ws.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def wait_for_media(self, after: float, timeout: float = 30.0) -> float:
        """Arrival time of the first frame from the hotline after ``after``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.received.first_media_after(after)
            if found is not None:
                return found
            if self.received.closed_at is not None:
                break
            time.sleep(0.005)
        raise TimeoutError(f"no audio from the hotline within {timeout} s")

    def wait_quiet(self, quiet_s: float = 0.6, timeout: float = 120.0) -> None:
        """Until the hotline has sent nothing for ``quiet_s`` and everything sent was played."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = time.monotonic()
            last = self.received.media[-1][0] if self.received.media else 0.0
            if now - last >= quiet_s and now >= self._playout_until and not self._pending_marks:
                return
            if self.received.closed_at is not None:
                return
            time.sleep(0.02)
        raise TimeoutError("the hotline kept talking")

    def wait_closed(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.received.closed_at is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the hotline did not close the stream")
            time.sleep(0.02)

    # ---- threads ---------------------------------------------------------------------------------

    _marker_done: threading.Event | None = None
    _last_voiced_at = 0.0
    speech_started_at: float | None = None  # when the first frame of the latest ``say`` went out

    def _send_audio(self) -> None:
        rng = np.random.default_rng(0)
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                frame = self._outgoing.get_nowait()
                if len(frame) == 0:
                    if self._marker_done is not None:
                        self._marker_done.set()
                    continue
                voiced = True
            except queue.Empty:
                frame = (rng.standard_normal(FRAME) * self._noise).astype(np.float32)
                voiced = False
            payload = base64.b64encode(mulaw_encode(frame)).decode()
            try:
                self.send({"event": "media", "media": {"track": "inbound", "payload": payload}})
            except Exception:
                return
            if voiced:
                self._last_voiced_at = time.monotonic()
                if self.speech_started_at is None:
                    self.speech_started_at = self._last_voiced_at
            self._echo_due_marks()
            next_at += 0.02
            time.sleep(max(0.0, next_at - time.monotonic()))

    def _echo_due_marks(self) -> None:
        now = time.monotonic()
        due = [m for m in self._pending_marks if m[0] <= now]
        self._pending_marks = [m for m in self._pending_marks if m[0] > now]
        for _, name in due:
            self.send({"event": "mark", "mark": {"name": name}})

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                raw = self._ws.receive(timeout=0.5)
            except simple_websocket.ConnectionClosed as closed:
                self.received.closed_at = time.monotonic()
                self.received.close_reason = str(getattr(closed, "message", "") or "")
                return
            if raw is None:
                continue
            now = time.monotonic()
            message = json.loads(raw)
            event = message.get("event")
            if event == "media":
                payload = base64.b64decode(message["media"]["payload"])
                self.received.media.append((now, payload))
                self._playout_until = max(self._playout_until, now) + len(payload) / PHONE_RATE
            elif event == "mark":
                name = message["mark"]["name"]
                self.received.marks.append((now, name))
                self._pending_marks.append((max(self._playout_until, now), name))
            elif event == "clear":
                self.received.clears.append(now)
                self._playout_until = now
                # Twilio returns the marks of the audio it dropped at once
                self._pending_marks = [(now, name) for _, name in self._pending_marks]

