"""Plays audio to a transport as 20 ms frames paced in real time, with marks at the end of each play.

One thread per call keeps the clock: every 20 ms it sends the next frame (a little ahead, so the far end
never runs dry), and when a play's audio is exhausted it sends a mark named after the play. The transport
reports marks back when the far end has played up to them (Twilio does; SIP reports them as sent), which
becomes the engine's ``PlaybackFinished``. ``clear`` drops everything queued at once (barge-in).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)

FRAME_MS = 20
FRAME_BYTES = 160  # 20 ms of 8 kHz G.711
MU_LAW_SILENCE = b"\xff"


class FrameSink(Protocol):
    """What a transport offers the player."""

    def send_frame(self, payload: bytes) -> None:
        """One 20 ms frame of 8 kHz mu-law audio."""
        ...

    def send_mark(self, name: str) -> None: ...

    def clear(self) -> None:
        """Drop audio the far end has buffered but not played yet."""
        ...


def mark_name(play_id: int) -> str:
    return f"play-{play_id}"


def play_id_of(mark: str) -> int | None:
    prefix, _, number = mark.partition("-")
    return int(number) if prefix == "play" and number.isdigit() else None


@dataclass
class _Job:
    play_id: int
    chunks: queue.Queue[bytes | None] = field(default_factory=queue.Queue)  # None: no more audio
    buffer: bytearray = field(default_factory=bytearray)
    started: bool = False
    complete: bool = False


class Player:
    """Paced playout for one call. ``tick`` callbacks let the session run its timers on the same clock."""

    def __init__(
        self,
        sink: FrameSink,
        on_started: Callable[[int], None] = lambda _id: None,
        on_tick: Callable[[], None] = lambda: None,
        lead_frames: int = 3,
    ) -> None:
        self.sink = sink
        self.on_started = on_started
        self.on_tick = on_tick
        self.lead_frames = lead_frames
        self._jobs: deque[_Job] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="player", daemon=True)
        self.frames_sent = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)

    @property
    def idle(self) -> bool:
        with self._lock:
            return not self._jobs

    def enqueue(self, play_id: int, audio: Iterator[bytes], produce: Callable[[Callable[[], None]], object]) -> None:
        """Queue a play; ``produce`` runs the (possibly slow) audio iterator off the clock thread."""
        job = _Job(play_id)
        with self._lock:
            self._jobs.append(job)

        def fill() -> None:
            try:
                for chunk in audio:
                    if self._stop.is_set():
                        break
                    job.chunks.put(chunk)
            except Exception:  # a failing voice leaves this play short, never the call silent forever
                log.exception("synthesis failed for play %d", play_id)
            finally:
                job.chunks.put(None)

        produce(fill)

    def clear(self) -> None:
        """Barge-in: drop all queued plays and tell the far end to drop its buffer."""
        with self._lock:
            self._jobs.clear()
        self.sink.clear()

    def _run(self) -> None:
        next_at = time.monotonic()
        ahead = 0
        while not self._stop.is_set():
            try:
                sent = self._send_one()
                self.on_tick()
            except Exception:  # the transport went away: nothing more to play
                log.debug("player stopped", exc_info=True)
                return
            if sent and ahead < self.lead_frames:
                ahead += 1
                continue
            if not sent:
                ahead = 0
            next_at += FRAME_MS / 1000.0
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()  # fell behind (a loaded machine): do not burst to catch up

    def _send_one(self) -> bool:
        """Send the next frame if one is ready; returns whether a frame went out."""
        with self._lock:
            job = self._jobs[0] if self._jobs else None
        if job is None:
            return False
        while len(job.buffer) < FRAME_BYTES and not job.complete:
            try:
                chunk = job.chunks.get_nowait()
            except queue.Empty:
                break  # synthesis still running: wait for it
            if chunk is None:
                job.complete = True
            else:
                job.buffer.extend(chunk)
        if len(job.buffer) >= FRAME_BYTES or (job.complete and job.buffer):
            frame = bytes(job.buffer[:FRAME_BYTES]).ljust(FRAME_BYTES, MU_LAW_SILENCE)
            del job.buffer[:FRAME_BYTES]
            with self._lock:
                if not self._jobs or self._jobs[0] is not job:
                    return False  # cleared meanwhile
                first, job.started = not job.started, True
                self.sink.send_frame(frame)
                self.frames_sent += 1
            if first:
                self.on_started(job.play_id)
            return True
        if job.complete:
            with self._lock:
                if self._jobs and self._jobs[0] is job:
                    self._jobs.popleft()
                    self.sink.send_mark(mark_name(job.play_id))
        return False
