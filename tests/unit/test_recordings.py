"""Where a recording may be fetched from, when credentials go with the request, and the overall deadline.
A real local HTTP server plays the media host."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from voice.transports.twilio.recordings import RecordingSource, RecordingUnavailable, fetch_recording, recording_source

pytestmark = pytest.mark.unit
TWILIO = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"


def test_twilio_urls_are_allowed_over_https_and_get_the_credentials():
    assert recording_source(TWILIO) == RecordingSource(TWILIO + ".wav", True)
    regional = "https://api.dublin.ie1.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.wav"
    assert recording_source(regional) == RecordingSource(regional, True)


@pytest.mark.parametrize(
    "url",
    [
        "http://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",  # plain HTTP: the token would be readable
        "https://attacker.example/Recordings/RE1",
        "https://api.twilio.com.attacker.example/RE1",
        "https://user:pw@api.twilio.com/RE1",
        "file:///etc/passwd",
        "https://[::1/RE1",
        "",
    ],
)
def test_other_urls_are_refused(url):
    with pytest.raises(RecordingUnavailable):
        recording_source(url)


def test_a_query_cannot_swallow_the_wav_suffix_and_test_hosts_get_no_credentials():
    source = recording_source("https://api.twilio.com/Recordings/RE1?", "*.twilio.com")
    assert source.url == "https://api.twilio.com/Recordings/RE1.wav"
    local = recording_source("http://127.0.0.1:8123/q1", "*.twilio.com, http://127.0.0.1")
    assert local == RecordingSource("http://127.0.0.1:8123/q1.wav", False)


class Media:
    """A local media host: answers per path, records whether credentials arrived."""

    def __init__(self) -> None:
        self.auth_seen: list[str | None] = []
        self.delay_s = 0.0
        media = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                media.auth_seen.append(self.headers.get("Authorization"))
                time.sleep(media.delay_s)
                if self.path.startswith("/elsewhere"):
                    self.send_response(302)
                    self.send_header("Location", "https://attacker.example/x.wav")
                elif self.path.startswith("/moved"):
                    self.send_response(302)
                    self.send_header("Location", "/real.wav")
                elif self.path.startswith("/real"):
                    self.send_response(200)
                    self.send_header("Content-Length", "4")
                    self.end_headers()
                    self.wfile.write(b"RIFF")
                    return
                else:
                    self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture()
def media() -> Iterator[Media]:
    server = Media()
    yield server
    server.server.shutdown()


ALLOW = "http://127.0.0.1"


def test_a_redirect_is_followed_only_to_an_allowed_host_and_never_with_credentials(media):
    moved = recording_source(f"{media.base}/moved", ALLOW)
    assert fetch_recording(moved, ("AC1", "secret"), allowed_hosts=ALLOW) == b"RIFF"
    assert media.auth_seen == [None, None]  # plain HTTP: the credentials were never sent
    with pytest.raises(RecordingUnavailable, match="not allowed"):
        fetch_recording(recording_source(f"{media.base}/elsewhere", ALLOW), tries=1, allowed_hosts=ALLOW)


def test_a_recording_that_never_arrives_gives_up_within_the_deadline(media):
    media.delay_s = 0.5
    started = time.monotonic()
    with pytest.raises(RecordingUnavailable, match="gave up"):
        fetch_recording(recording_source(f"{media.base}/missing", ALLOW), tries=50, delay_s=0.2, deadline_s=2.0,
                        allowed_hosts=ALLOW)
    assert time.monotonic() - started < 2.6
