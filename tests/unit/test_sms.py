"""SMS pieces on their own: segment counting per script, cutting to fit, which numbers may be texted,
and the ``twilio`` client against a local server standing in for the Messaging API."""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator

import pytest

from voice.stages.sms.policy import Refusal, SmsPolicy
from voice.stages.sms.segments import encoding, fit, plain, segments
from voice.stages.sms.twilio_sms import SmsFailed, TwilioSms

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "kind", "count"),
    [
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("Verlängerung für Ihren Aufenthaltstitel: § 81 AufenthG. Größe ß", "GSM-7", 1),
        ("€" * 80, "GSM-7", 1),  # 160 septets: two each
        ("€" * 81, "GSM-7", 2),
        ("a" * 152 + "€" + "a" * 10, "GSM-7", 2),  # the euro sign does not straddle the segment border
        ("تمديد الإقامة" * 5, "UCS-2", 1),  # 65 code units
        ("تمديد الإقامة" * 6, "UCS-2", 2),  # 78
        ("Продление вида на жительство " * 7, "UCS-2", 4),  # 203 code units: 67 per segment
        ("居留许可延期" * 11, "UCS-2", 1),  # 66
        ("a" * 69 + "😀", "UCS-2", 2),  # a surrogate pair: 71 code units
        ("", "GSM-7", 0),
    ],
)
def test_segments_follow_the_encoding(text, kind, count):
    assert encoding(text) == kind and segments(text) == count


def test_typographic_characters_are_made_plain_to_stay_in_gsm():
    text = "„Fiktionsbescheinigung“ – bitte ‚rechtzeitig‘…"
    assert encoding(text) == "UCS-2" and encoding(plain(text)) == "GSM-7"


def test_fit_keeps_the_tail_and_whole_sentences():
    body = " ".join(f"Satz Nummer {i} hat einige Wörter mehr als nötig." for i in range(40))
    tail = ["https://www.example-amt.de/auslaender", "Allgemeine Auskunft, keine Rechtsberatung."]
    message = fit(body, tail, 2)
    assert segments(message) <= 2 and message.endswith("\n".join(tail))
    assert message.split("\n")[0].endswith("nötig.")  # cut after a whole sentence
    arabic = fit("جملة طويلة عن الإقامة والتمديد. " * 30, tail, 4)
    assert segments(arabic) <= 4 and "https://www.example-amt.de/auslaender" in arabic
    tiny = fit(body, [*tail, "x" * 400], 1)  # the least important tail line goes first
    assert tiny == "\n".join(["Satz Nummer 0 hat einige Wörter mehr als nötig.", *tail])
    assert fit(body, ["y" * 200], 1) == ""  # nothing fits: nothing is sent rather than a broken text


@pytest.mark.parametrize(
    ("number", "refusal"),
    [
        ("+4915112345678", None),  # German mobile
        ("+491701234567", None),
        ("+493012345678", Refusal.NOT_MOBILE),  # Berlin landline
        ("+4980012345678", Refusal.NOT_MOBILE),  # free phone
        ("+447911123456", Refusal.COUNTRY),  # a British mobile
        ("anonymous", Refusal.WITHHELD),
        ("+266696687", Refusal.WITHHELD),
        ("", Refusal.WITHHELD),
        ("110", Refusal.NOT_A_NUMBER),  # a short number
        ("+49151", Refusal.NOT_A_NUMBER),
        ("not a number", Refusal.NOT_A_NUMBER),
    ],
)
def test_only_mobile_numbers_of_allowed_countries_may_be_texted(number, refusal):
    assert SmsPolicy(key=b"k").check(number) == refusal


def test_the_daily_limit_counts_by_keyed_hash_and_starts_again_the_next_day():
    policy = SmsPolicy(per_day=2, key=b"k")
    day = dt.date(2026, 12, 6)
    for _ in range(2):
        assert policy.check("+4915112345678", day) is None
        policy.count("+4915112345678", day)
    assert policy.check("+4915112345678", day) is Refusal.LIMIT
    assert policy.check("+4915198765432", day) is None  # another caller
    assert policy.check("+4915112345678", day + dt.timedelta(days=1)) is None
    assert all("4915112345678" not in key for key, _ in policy._sent)  # never in clear
    assert SmsPolicy(regions=frozenset({"DE", "AT"}), key=b"k").check("+436641234567") is None


class FakeMessagingApi(http.server.BaseHTTPRequestHandler):
    requests: list[dict] = []
    reply: tuple[int, dict] = (201, {})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        FakeMessagingApi.requests.append({"path": self.path, "auth": self.headers.get("Authorization", ""),
                                          "form": {k: v[0] for k, v in form.items()}})
        status, body = FakeMessagingApi.reply
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def api() -> Iterator[str]:
    FakeMessagingApi.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeMessagingApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_message_is_posted_like_the_messaging_api_expects(api):
    FakeMessagingApi.reply = (201, {"sid": "SM123", "status": "queued", "body": "x"})
    sms = TwilioSms("AC0123", "secret", "+4930555", status_callback="https://hotline.example/twilio/sms-status",
                    base_url=api)
    sent = sms.send("+4915112345678", "Ihre Antwort. https://amt.example")
    assert (sent.sid, sent.status, sent.segments) == ("SM123", "queued", 1)
    (request,) = FakeMessagingApi.requests
    assert request["path"] == "/2010-04-01/Accounts/AC0123/Messages.json"
    assert base64.b64decode(request["auth"].split()[1]) == b"AC0123:secret"
    assert request["form"] == {"To": "+4915112345678", "From": "+4930555", "Body": "Ihre Antwort. https://amt.example",
                               "StatusCallback": "https://hotline.example/twilio/sms-status"}


def test_an_api_refusal_or_an_unreachable_api_is_a_clear_failure_without_the_number(api):
    FakeMessagingApi.reply = (400, {"code": 21211, "message": "The 'To' number +4915112345678 is not valid.",
                                    "status": 400})
    sms = TwilioSms("AC0123", "secret", "+4930555", base_url=api)
    with pytest.raises(SmsFailed) as failed:
        sms.send("+4915112345678", "x")
    assert "21211" in str(failed.value) and "4915112345678" not in str(failed.value)
    gone = TwilioSms("AC0123", "secret", "+4930555", base_url="http://127.0.0.1:9", timeout_s=2)
    with pytest.raises(SmsFailed) as unreachable:
        gone.send("+4915112345678", "x")
    assert "cannot be reached" in str(unreachable.value)
