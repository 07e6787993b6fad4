"""Fetching a caller's recording from the carrier (Twilio media URLs): only from allowed hosts, with
retries inside one overall deadline.

Twilio may announce a recording a moment before it can be downloaded (404), and media URLs may require
HTTP Basic auth with the account SID and auth token. The URL arrives in a signed webhook, but it is
still checked: it must point to an allowed host (by default Twilio's API hosts, over HTTPS), and the
credentials go only to Twilio's hosts over HTTPS, never over plain HTTP and never anywhere else.
"""

from __future__ import annotations

import fnmatch
import logging
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests

log = logging.getLogger(__name__)

TWILIO_HOSTS = "*.twilio.com"  # api.twilio.com and the regional api.<edge>.<region>.twilio.com


class RecordingUnavailable(RuntimeError):
    """The recording could not be downloaded (refused URL, or every retry failed within the deadline)."""


@dataclass(frozen=True)
class RecordingSource:
    """Where the recording may be fetched from, and whether the credentials may go with the request."""

    url: str
    send_credentials: bool


def recording_source(url: str, allowed_hosts: str = TWILIO_HOSTS) -> RecordingSource:
    """Check ``url`` against ``allowed_hosts`` (comma-separated host patterns; ``http://`` before one also
    allows plain HTTP to it, for simulators and tests) and give the WAV URL to fetch.

    Raises:
        RecordingUnavailable: the URL is malformed or its host is not allowed.
    """
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        raise RecordingUnavailable("recording URL is malformed") from None
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        raise RecordingUnavailable(f"recording URL {parts.scheme}://{host} is not an HTTP(S) URL to a host")
    allowed = False
    for entry in (e.strip().lower() for e in allowed_hosts.split(",") if e.strip()):
        plain_ok = entry.startswith("http://")
        pattern = entry.removeprefix("http://").removeprefix("https://")
        if fnmatch.fnmatchcase(host, pattern) and (parts.scheme == "https" or plain_ok):
            allowed = True
            break
    if not allowed:
        raise RecordingUnavailable(f"recording host {parts.scheme}://{host} is not allowed (HOTLINE_RECORDING_HOSTS)")
    path = parts.path if parts.path.endswith(".wav") else parts.path + ".wav"  # Twilio serves WAV this way
    netloc = host if port is None else f"{host}:{port}"
    twilio = host == "twilio.com" or host.endswith(".twilio.com")
    return RecordingSource(f"{parts.scheme}://{netloc}{path}", parts.scheme == "https" and twilio)


def fetch_recording(
    source: RecordingSource,
    auth: tuple[str, str] | None = None,
    tries: int = 5,
    delay_s: float = 0.4,
    timeout_s: float = 5.0,
    deadline_s: float = 8.0,
    allowed_hosts: str = TWILIO_HOSTS,
) -> bytes:
    """Download the recording, retrying while it is not ready, for at most ``deadline_s`` in all.

    A redirect is followed (at most three) only to an allowed host, and without the credentials.
    """
    deadline = time.monotonic() + deadline_s
    last = ""
    for attempt in range(1, tries + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0.2:
            last = f"{last or 'no answer'}; gave up after {deadline_s:.0f} s"
            break
        try:
            response = _get(source, auth, min(timeout_s, remaining), allowed_hosts)
            if response.status_code == 200 and response.content:
                return response.content
            last = f"HTTP {response.status_code}"
            if response.status_code in (401, 403) or 300 <= response.status_code < 400:
                break  # wrong credentials, or redirected too often: retrying will not help
        except requests.RequestException as exc:
            last = exc.__class__.__name__
        log.info("recording not ready (%s), try %d of %d", last, attempt, tries)
        time.sleep(max(0.0, min(delay_s * attempt, deadline - time.monotonic() - 0.2)))
    raise RecordingUnavailable(f"recording {source.url} unavailable: {last}")


def _get(source: RecordingSource, auth: tuple[str, str] | None, timeout: float, allowed: str) -> requests.Response:
    url, credentials = source.url, auth if source.send_credentials else None
    for _ in range(4):
        response = requests.get(url, auth=credentials, timeout=timeout, allow_redirects=False)
        location = response.headers.get("Location", "")
        if not (300 <= response.status_code < 400 and location):
            return response
        target = urljoin(url, location)
        parts = urlsplit(target)
        recording_source(f"{parts.scheme}://{parts.netloc}{parts.path}", allowed)  # raises when not allowed
        url, credentials = target, None  # a pre-signed media URL needs no credentials
    return response
