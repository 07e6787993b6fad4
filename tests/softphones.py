"""Real softphones and the hotline as its own process, for the SIP interop tests (``tests/slow``).

``Hotline`` runs ``python app.py sip`` as in production (real Whisper, retrieval, eSpeak, SQLite).
``Baresip`` is Debian's baresip 1.0 driven through its ``ctrl_tcp`` module: a WAV file is its microphone,
its ``sndfile`` module writes what it hears, keys go as RFC 4733 telephone events. ``Linphone`` is
Debian's linphone-cli 5.1 (``linphonec``) driven through its standard input: WAV files as microphone
and speaker (``soundcard use files``), keys as SIP INFO. Both are installed with apt where missing (root).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.servers import ROOT
from tools.sipp import ensure_debian_tool, free_port


def ensure_phone(command: str, package: str) -> str:
    found = ensure_debian_tool(command, package)
    if found is None:
        if os.environ.get("CI"):  # CI must run these tests, never pass by skipping them
            pytest.fail(f"{command} is missing and could not be installed (make sipp)")
        pytest.skip(f"{command} is missing and cannot be installed here (make sipp)")
    return found


class Hotline:
    """``python app.py sip`` in its own process, with its own SQLite file."""

    def __init__(self, folder: Path, office_open: bool, transfer_uri: str = "", srtp: str = "optional",
                 tls: tuple[Path, Path] | None = None, digest: tuple[str, str] | None = None,
                 **env_extra: str) -> None:
        self.port = free_port()
        self.tls_port = free_port(socket.SOCK_STREAM) if tls else 0
        self.db = folder / "calls.db"
        office = yaml.safe_load((ROOT / "prompts/office.example.yaml").read_text(encoding="utf-8"))
        hours = "00:00-23:59" if office_open else ""
        office["opening_hours"] = {day: hours for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        (folder / "office.yaml").write_text(yaml.safe_dump(office, allow_unicode=True), encoding="utf-8")
        low = 40000 + (os.getpid() % 50) * 100
        self.rtp_ports = range(low, low + 100)
        env = {
            **os.environ,
            "HOTLINE_DATABASE_URL": f"sqlite:///{self.db}",
            "HOTLINE_AUDIO_CACHE_DIR": str(folder / "audio"),
            "HOTLINE_OFFICE_PROFILE": str(folder / "office.yaml"),
            "HOTLINE_SIP_RTP_PORTS": f"{low}-{low + 99}",
            "HOTLINE_SIP_TRANSFER_URI": transfer_uri,
            "HOTLINE_SIP_SRTP": srtp,
            "HOTLINE_DRAIN_GRACE_S": "5",  # stop() drains: a call the softphone left behind must not hold it
            **({"HOTLINE_SIP_TLS_PORT": str(self.tls_port), "HOTLINE_SIP_TLS_CERT": str(tls[0]),
                "HOTLINE_SIP_TLS_KEY": str(tls[1])} if tls else {}),
            **({"HOTLINE_SIP_USERNAME": digest[0], "HOTLINE_SIP_PASSWORD": digest[1]} if digest else {}),
            "HOTLINE_ASR_UNSURE_LOGPROB": "-5",
            "HOTLINE_ASR_GARBLED_LOGPROB": "-9",
            "HOTLINE_LOG_LEVEL": "DEBUG",  # the prompts it plays ("plays topic_confirm") are logged at DEBUG
            **env_extra,
        }
        self.log_path = folder / "hotline.log"
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "app.py", "sip", "--port", str(self.port)], cwd=ROOT, env=env, stderr=log
            )
        wait_for_text(self.log, "hotline answering SIP", 300, self.proc)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            return db.execute(sql).fetchall()

    def last_call(self) -> tuple[str, Any, Any]:
        (row,) = self.rows("SELECT id, rating, end_reason FROM calls ORDER BY started_at DESC LIMIT 1")
        return row

    def turns(self, call_id: str) -> list[dict[str, Any]]:
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute("SELECT * FROM turns WHERE call_id = ? ORDER BY turn", (call_id,))]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


class Baresip:
    """baresip with a file as microphone, a WAV dump of what it hears, and ``ctrl_tcp`` to drive it."""

    def __init__(self, folder: Path, microphone: Path, mediaenc: str = "", cafile: Path | None = None,
                 digest: tuple[str, str] | None = None) -> None:
        self.folder, self.microphone = folder, microphone
        self.sip_port, self.ctrl_port = free_port(), free_port(socket.SOCK_STREAM)
        low = 46000 + (os.getpid() % 50) * 40
        (folder / "dump").mkdir()
        (folder / "config").write_text(
            "\n".join(
                [
                    "poll_method epoll",
                    f"sip_listen 127.0.0.1:{self.sip_port}",
                    *([f"sip_cafile {cafile}"] if cafile else []),  # it checks the hotline's certificate
                    "audio_player aubridge,nowhere",  # no sound card: what is heard goes to the dump only
                    "audio_alert aubridge,nowhere",
                    f"audio_source aufile,{microphone}",
                    "ausrc_srate 8000",
                    "auplay_srate 8000",
                    "ausrc_channels 1",
                    "auplay_channels 1",
                    f"rtp_ports {low}-{low + 39}",
                    "module_path /usr/lib/baresip/modules",
                    "module g711.so",
                    "module aufile.so",
                    "module aubridge.so",
                    "module sndfile.so",
                    "module_app account.so",
                    "module_app menu.so",
                    "module ctrl_tcp.so",
                    *(["module srtp.so"] if mediaenc else []),
                    f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
                    f"snd_path {folder / 'dump'}",
                    "",
                ]
            )
        )
        encryption = f";mediaenc={mediaenc}" if mediaenc else ""
        credentials = f";auth_user={digest[0]};auth_pass={digest[1]}" if digest else ""  # answers a 401
        (folder / "accounts").write_text(
            f"<sip:caller@127.0.0.1>;regint=0;audio_codecs=PCMU,PCMA{encryption}{credentials}\n"
        )
        self.log_path = folder / "baresip.log"
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(["baresip", "-f", str(folder), "-v"], stdout=log, stderr=log, cwd=folder)
        self.wait_log("baresip is ready", 20)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float) -> None:
        wait_for_text(self.log, text, timeout, self.proc)

    def command(self, name: str, params: str = "") -> dict[str, Any]:
        """Run a menu command through ``ctrl_tcp`` (netstrings of JSON; events may come before the reply)."""
        body = json.dumps({"command": name, "params": params, "token": name}).encode()
        with socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=5) as s:
            s.sendall(str(len(body)).encode() + b":" + body + b",")
            buffer = b""
            while True:
                while b":" in buffer:
                    length, _, rest = buffer.partition(b":")
                    if len(rest) < int(length) + 1:
                        break
                    message: dict[str, Any] = json.loads(rest[: int(length)])
                    buffer = rest[int(length) + 1 :]
                    if message.get("response"):
                        assert message.get("ok"), message
                        return message
                chunk = s.recv(65536)
                assert chunk, buffer
                buffer += chunk

    def heard(self) -> np.ndarray:
        """What the softphone has heard so far: one dump per audio stream (a resumed hold starts another)."""
        parts = [np.zeros(0, np.float32)]
        for path in sorted((self.folder / "dump").glob("dump-*-dec.wav")):
            data = path.read_bytes()[44:]  # the header's sizes are written when the stream ends
            parts.append(np.frombuffer(data[: len(data) // 2 * 2], "<i2").astype(np.float32) / 32768)
        return np.concatenate(parts)

    def dial(self, uri: str) -> None:
        self.command("dial", uri)
        self.wait_log("Call established", 15)

    def press(self, key: str) -> None:
        self.command("sndcode", key)  # an RFC 4733 telephone event

    def wait_ended(self, timeout: float) -> None:
        self.wait_log("audio: destroyed", timeout)  # the dump of what it heard is complete

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.command("quit")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        if self.proc.poll() is None:
            self.proc.kill()


class Linphone:
    """linphonec (linphone-cli) with WAV files for microphone and speaker, keys sent as SIP INFO."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sip_port = free_port()
        low = 47000 + (os.getpid() % 50) * 40
        (folder / "home/.local/share/linphone").mkdir(parents=True)  # its call history database lives there
        (folder / "linphonerc").write_text(
            "\n".join(
                [
                    "[sip]",
                    f"sip_port={self.sip_port}",
                    "sip_tcp_port=0",
                    "sip_tls_port=0",
                    "use_ipv6=0",
                    "use_info=1",  # keys as SIP INFO (application/dtmf-relay) ...
                    "use_rfc2833=0",  # ... and not as RTP telephone events
                    "[rtp]",
                    f"audio_rtp_port={low}-{low + 39}",
                    "[video]",
                    "enabled=0",
                    "automatically_initiate=0",
                    "[sound]",
                    "echocancellation=0",
                    "",
                ]
            )
        )
        self.heard_path = folder / "heard.wav"
        self.out_path = folder / "linphonec.out"
        with self.out_path.open("w") as out:
            self.proc = subprocess.Popen(
                ["linphonec", "-c", str(folder / "linphonerc"), "-d", "3", "-l", str(folder / "linphone.log")],
                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, text=True, cwd=folder,
                env={**os.environ, "HOME": str(folder / "home")},
            )
        self.wait_out("linphonec>", 20)
        self.command("soundcard use files")  # no sound card: WAV files instead
        self.wait_out("Using wav files", 5)
        self.command(f"record {self.heard_path}")  # what it hears goes there

    def out(self) -> str:
        return self.out_path.read_text(errors="replace")

    def wait_out(self, text: str, timeout: float) -> None:
        wait_for_text(self.out, text, timeout, self.proc)

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def dial(self, uri: str) -> None:
        self.command(f"call {uri}")
        self.wait_out("Media streams established", 15)

    def say(self, recording: Path) -> None:
        self.command(f"play {recording}")  # the file becomes its microphone from now on

    def press(self, key: str) -> None:
        self.command(key)  # digits typed during a call are sent as keys

    def wait_ended(self, timeout: float) -> None:
        self.wait_out("ended", timeout)

    def heard(self) -> np.ndarray:
        data = self.heard_path.read_bytes()
        with wave.open(str(self.heard_path)) as w:
            rate, width = w.getframerate(), w.getsampwidth()
        assert width == 2, width
        audio = np.frombuffer(data[44 : 44 + (len(data) - 44) // 2 * 2], "<i2").astype(np.float32) / 32768
        if rate != 8000:  # linphone records at the rate of its audio graph
            from voice.core.domain import AudioClip
            from voice.stages.audio import resample

            audio = resample(AudioClip(audio, rate), 8000).samples
        return audio

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.command("quit")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        if self.proc.poll() is None:
            self.proc.kill()


def best_match(template: np.ndarray, audio: np.ndarray) -> float:
    """The highest normalised cross-correlation of ``template`` anywhere in ``audio`` (1.0: identical)."""
    n = len(template)
    if n == 0 or len(audio) < n:
        return 0.0
    size = 1 << (len(audio) + n).bit_length()
    dots = np.fft.irfft(np.fft.rfft(audio, size) * np.conj(np.fft.rfft(template, size)), size)[: len(audio) - n + 1]
    energy = np.concatenate([[0.0], np.cumsum(audio.astype(np.float64) ** 2)])
    windows = np.sqrt(np.maximum(energy[n:] - energy[:-n], 1e-12))
    return float((dots / (windows * np.linalg.norm(template) + 1e-12)).max())


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getframerate() == 8000 and w.getsampwidth() == 2, path
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768


def write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def wait_for_text(read: Callable[[], str], text: str, timeout: float,
                  proc: subprocess.Popen[Any] | None = None) -> None:
    """Wait until ``text`` appears in what ``read`` returns (a log, a program's output); fail with its tail
    when the time is up or ``proc`` has exited."""
    deadline = time.monotonic() + timeout
    while text not in read():
        alive = proc is None or proc.poll() is None
        assert alive and time.monotonic() < deadline, f"no {text!r}:\n{read()[-3000:]}"
        time.sleep(0.1)


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def voiced_frames(audio: np.ndarray) -> np.ndarray:
    frames = audio[: len(audio) // 160 * 160].reshape(-1, 160)
    return np.sqrt((frames**2).mean(axis=1)) > 0.01


def voiced_seconds(audio: np.ndarray) -> float:
    return float(voiced_frames(audio).sum() * 0.02)


