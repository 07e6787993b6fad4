"""Fetching a caller's recording from the carrier (Twilio media URLs), with retries.

Twilio may announce a recording a moment before it can be downloaded (404), and media URLs may require
HTTP Basic auth with the account SID and auth token.
"""

from __future__ import annotations

import logging
import time

import requests

log = logging.getLogger(__name__)


class RecordingUnavailable(RuntimeError):
    """The recording could not be downloaded after every retry."""


def fetch_recording(
    url: str, auth: tuple[str, str] | None = None, tries: int = 5, delay_s: float = 0.4, timeout_s: float = 5.0
) -> bytes:
    """Download ``url`` (Twilio: the RecordingUrl plus ``.wav``), retrying while it is not ready."""
    last = ""
    for attempt in range(1, tries + 1):
        try:
            response = requests.get(url, auth=auth, timeout=timeout_s)
            if response.status_code == 200 and response.content:
                return response.content
            last = f"HTTP {response.status_code}"
            if response.status_code in (401, 403):
                break  # wrong credentials: retrying will not help
        except requests.RequestException as exc:
            last = exc.__class__.__name__
        log.info("recording not ready (%s), try %d of %d", last, attempt, tries)
        time.sleep(delay_s * attempt)
    raise RecordingUnavailable(f"recording {url.split('?')[0]} unavailable: {last}")
