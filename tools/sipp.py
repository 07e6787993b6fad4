"""Runs SIPp (a real, independent SIP implementation) against the hotline: for tests and the benchmark.

SIPp comes from the Debian package ``sip-tester``; ``ensure_sipp`` installs it with apt when it is
missing and this process may (root), as ``make sipp`` does. Scenarios live in ``tests/data/sipp``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

SOUNDS = Path("/usr/share/sip-tester")  # SIPp's own pcaps: RFC 2833 key presses, G.711 audio
SCENARIOS = Path(__file__).resolve().parents[1] / "tests" / "data" / "sipp"


def ensure_debian_tool(command: str, package: str) -> str | None:
    """Path of ``command``, installing Debian's ``package`` if it is missing and we are root; None if
    impossible."""
    found = shutil.which(command)
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-q", package], env=env, check=False, capture_output=True)
    return shutil.which(command)


def ensure_sipp() -> str | None:
    """Path of ``sipp`` (Debian's ``sip-tester``), installed when missing and possible."""
    return ensure_debian_tool("sipp", "sip-tester")


_HANDED_OUT: set[int] = set()


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port (UDP by default) free now and not handed out before by this process: the kernel may offer a
    port it just took back again, and two servers of one test or benchmark must never be told the same."""
    while True:
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


@dataclass
class SippResult:
    returncode: int
    output: str
    errors: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run_sipp(scenario: str, target: str, transport: str = "udp", calls: int = 1, keys: dict[str, str] | None = None,
             local_ip: str = "127.0.0.1", media_port: int | None = None, timeout_s: float = 90.0,
             workdir: Path | None = None, rate: int = 10, extra: list[str] | None = None) -> SippResult:
    """Place ``calls`` calls with ``tests/data/sipp/<scenario>.xml``; returns SIPp's verdict and logs."""
    sipp = ensure_sipp()
    if sipp is None:
        raise RuntimeError("SIPp is not installed (apt-get install sip-tester, or make sipp)")
    workdir = workdir or Path.cwd()
    error_file = workdir / f"{scenario}-{os.getpid()}-errors.log"
    defaults = {"caller": "+4915112345678", "codec_pt": "8", "codec_name": "PCMA",
                "press1": str(SOUNDS / "dtmf_2833_pound.pcap"), "press2": str(SOUNDS / "dtmf_2833_4.pcap")}
    args = [
        sipp, target, "-sf", str(SCENARIOS / f"{scenario}.xml"), "-m", str(calls), "-l", str(calls),
        "-r", str(rate), "-rp", "1000", "-t", "u1" if transport == "udp" else "t1", "-i", local_ip,
        "-p", str(free_port(socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM)),
        "-mi", local_ip, "-mp", str(media_port or free_port()), "-cp", str(free_port()),
        "-nostdin", "-trace_err", "-error_file", str(error_file), "-timeout", f"{int(timeout_s)}s",
        "-timeout_error", "-max_recv_loops", "1000",
    ]
    for key, value in {**defaults, **(keys or {})}.items():
        args += ["-key", key, value]
    args += extra or []  # e.g. -au USER -ap PASSWORD for a proxy that asks for digest authentication
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s + 30, cwd=workdir, check=False)
    errors = error_file.read_text(errors="replace") if error_file.exists() else ""
    return SippResult(done.returncode, done.stdout[-4000:] + done.stderr[-4000:], errors[-8000:])
