"""The paced player with a recording sink: frame size, real-time pacing, marks, clear, slow synthesis."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from voice.runtime.stream.player import FRAME_BYTES, Player, mark_name, play_id_of
from voice.runtime.stream.speech_source import sentences, wav_payload


class Sink:
    def __init__(self) -> None:
        self.frames: list[tuple[float, bytes]] = []
        self.marks: list[tuple[float, str]] = []
        self.clears: list[float] = []

    def send_frame(self, payload: bytes) -> None:
        self.frames.append((time.monotonic(), payload))

    def send_mark(self, name: str) -> None:
        self.marks.append((time.monotonic(), name))

    def clear(self) -> None:
        self.clears.append(time.monotonic())


def run_now(work) -> None:
    threading.Thread(target=work, daemon=True).start()


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_frames_are_20ms_paced_in_real_time_and_end_with_a_mark():
    sink, started = Sink(), []
    player = Player(sink, on_started=started.append)
    player.start()
    try:
        player.enqueue(7, iter([b"\x01" * 8000]), run_now)  # one second of audio
        wait_for(lambda: sink.marks, timeout=3)
    finally:
        player.stop()
    assert started == [7] and sink.marks[0][1] == mark_name(7) and play_id_of(sink.marks[0][1]) == 7
    assert len(sink.frames) == 50 and all(len(f) == FRAME_BYTES for _, f in sink.frames)
    took = sink.frames[-1][0] - sink.frames[0][0]
    assert took >= 0.85  # paced like a phone line, not sent in a burst
    assert sink.marks[0][0] >= sink.frames[-1][0]


def test_clear_drops_queued_audio_at_once():
    sink = Sink()
    player = Player(sink)
    player.start()
    try:
        player.enqueue(1, iter([b"\x02" * 16000]), run_now)
        player.enqueue(2, iter([b"\x03" * 16000]), run_now)
        wait_for(lambda: len(sink.frames) >= 10)
        player.clear()
        sent = len(sink.frames)
        time.sleep(0.2)
    finally:
        player.stop()
    assert sink.clears and len(sink.frames) <= sent + 1 and player.idle
    assert not sink.marks  # nothing finished playing


def test_slow_synthesis_plays_each_piece_as_it_is_ready():
    sink = Sink()
    player = Player(sink)

    def pieces() -> Iterator[bytes]:
        yield b"\x04" * 1600  # 200 ms, ready at once
        time.sleep(0.5)  # the next sentence takes a while to synthesise
        yield b"\x05" * 1600

    player.start()
    try:
        player.enqueue(3, pieces(), run_now)
        wait_for(lambda: sink.marks, timeout=3)
    finally:
        player.stop()
    first_of_second = next(t for t, f in sink.frames if f[0] == 5)
    assert first_of_second - sink.frames[0][0] >= 0.45  # the first piece did not wait for the second
    assert len(sink.frames) == 20 and sink.marks[0][1] == mark_name(3)


def test_a_failing_voice_ends_the_play_instead_of_hanging():
    sink = Sink()
    player = Player(sink)

    def broken() -> Iterator[bytes]:
        yield b"\x06" * 320
        raise RuntimeError("voice crashed")

    player.start()
    try:
        player.enqueue(4, broken(), run_now)
        wait_for(lambda: sink.marks, timeout=3)
    finally:
        player.stop()
    assert len(sink.frames) == 2 and sink.marks[0][1] == mark_name(4)


def test_sentence_split_and_wav_payload():
    assert sentences("Erstens. Zweitens! Drittens? Ende") == ["Erstens.", "Zweitens!", "Drittens?", "Ende"]
    assert sentences("هل لديك سؤال؟ نعم") == ["هل لديك سؤال؟", "نعم"]
    import io

    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.zeros(800, dtype=np.float32), 8000, subtype="ULAW", format="WAV")
    assert len(wav_payload(buf.getvalue())) == 800
