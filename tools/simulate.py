"""``simulate-call``: play Twilio's part against a running hotline, over real HTTP.

Sends signed webhooks, serves the caller's recordings from a local media server, fetches every audio
URL the hotline returns, answers the rating prompt with the given digit, and prints the conversation
with timings. Needs the same ``HOTLINE_TWILIO_AUTH_TOKEN`` as the server.
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import soundfile as sf
from twilio.request_validator import RequestValidator


@dataclass
class SimulatedCall:
    base_url: str
    token: str
    questions: list[Path]
    rating: str = "5"
    confirm: str = "1"  # the key pressed when the hotline asks "is your question about …?"
    caller: str = "+4915112345678"
    sid: str = field(default_factory=lambda: f"CA{int(time.time() * 1000):x}sim")
    log: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.log.append(line)
        print(line, flush=True)

    def post(self, path: str, **form: str) -> tuple[ET.Element, float, dict[str, Any]]:
        return self.post_to(self.base_url, path, **form)

    def post_to(self, node: str, path: str, **form: str) -> tuple[ET.Element, float, dict[str, Any]]:
        """Sent to ``node``, signed for the public ``base_url`` as Twilio signs it (a load balancer between)."""
        params = {"CallSid": self.sid, "From": self.caller, **form}
        signature = RequestValidator(self.token).compute_signature(self.base_url.rstrip("/") + path, params)
        started = time.perf_counter()
        headers = {"X-Twilio-Signature": signature, "X-Hotline-Debug": "1"}
        response = requests.post(node.rstrip("/") + path, data=params, headers=headers, timeout=30)
        took = (time.perf_counter() - started) * 1000
        if response.status_code == 403:
            raise SystemExit("the hotline refused the signature: is HOTLINE_TWILIO_AUTH_TOKEN the same on both sides?")
        response.raise_for_status()
        root = ET.fromstring(response.text) if response.text.strip() else ET.Element("Response")  # 204: no TwiML
        turn = json.loads(response.headers.get("X-Hotline-Turn", "{}"))
        turn["timings"] = response.headers.get("X-Hotline-Timings", "")
        return root, took, turn

    def report(self, turn: dict[str, Any]) -> None:
        """What the hotline heard and what it did with it."""
        if "heard" in turn:
            self.say(f"  hotline heard [{turn.get('language')} {turn.get('language_probability')}]: {turn['heard']}")
        outcome = turn.get("outcome")
        if outcome == "answer":
            self.say(f"  outcome: answer, topic {turn['topic']}: {turn['answer']}")
        elif outcome == "confirm":
            offered = ", ".join(f"{i} = {t}" for i, t in enumerate(turn["candidates"], 1))
            self.say(f"  outcome: confirm ({offered}; 0 = a person)")
        elif outcome:
            self.say(f"  outcome: {outcome}")

    def listen(self, root: ET.Element) -> float:
        """Fetch every <Play> URL like Twilio does; returns the seconds of audio heard."""
        total = 0.0
        for play in root.iter("Play"):
            started = time.perf_counter()
            response = requests.get(play.text or "", timeout=30)
            response.raise_for_status()
            first_byte = (time.perf_counter() - started) * 1000
            seconds = sf.info(io.BytesIO(response.content)).duration
            total += seconds
            self.say(f"  hotline plays {seconds:4.1f} s of audio (fetched in {first_byte:.0f} ms)")
        return total


def serve_media(files: list[Path]) -> tuple[http.server.ThreadingHTTPServer, str]:
    directory = {f"/q{i}": f for i, f in enumerate(files)}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = directory.get(self.path.removesuffix(".wav"))
            if path is None:
                self.send_error(404)
                return
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def run(call: SimulatedCall, max_steps: int = 40) -> int:
    server, media = serve_media(call.questions)
    try:
        return _converse(call, media, max_steps)
    finally:
        server.shutdown()


def _converse(call: SimulatedCall, media: str, max_steps: int) -> int:
    call.say(f"calling {call.base_url} as {call.sid}")
    root, took, turn = call.post("/twilio/voice")
    call.say(f"call answered in {took:.0f} ms")
    asked, rated = 0, False
    for _ in range(max_steps):
        call.listen(root)
        if root.find("Dial") is not None:
            call.say(f"transferred to {root.findtext('Dial/Number') or root.findtext('Dial')}")
            break
        if root.find("Hangup") is not None:
            call.say("the hotline hung up")
            break
        gather, record = root.find("Gather"), root.find("Record")
        if record is not None and asked < len(call.questions):
            question = call.questions[asked]
            call.say(f"caller asks: {question.name} ({sf.info(question).duration:.1f} s)")
            step = functools.partial(
                call.post,
                "/twilio/recording",
                RecordingUrl=f"{media}/q{asked}",
                RecordingDuration=str(round(sf.info(question).duration)),
            )
            asked += 1
        elif record is not None:
            call.say("caller presses # (no more questions)")
            step = functools.partial(call.post, "/twilio/recording", Digits="#")
        elif gather is not None and turn.get("outcome") == "confirm":
            call.say(f"caller presses {call.confirm}")
            step = functools.partial(call.post, "/twilio/digits", Digits=call.confirm)
        elif gather is not None and not rated:
            call.say(f"caller rates {call.rating}")
            step = functools.partial(call.post, "/twilio/digits", Digits=call.rating)
            rated = True
        elif root.find("Redirect") is not None:
            target = (root.findtext("Redirect") or "").split("/twilio", 1)[-1]
            step = functools.partial(call.post, f"/twilio{target}")
        else:
            break
        root, took, turn = step()
        timings = turn.get("timings")
        call.say(f"  hotline answered the webhook in {took:.0f} ms" + (f" ({timings})" if timings else ""))
        call.report(turn)
    call.post("/twilio/status", CallStatus="completed")
    call.say("call completed")
    return 0
