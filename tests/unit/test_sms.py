"""SMS pieces on their own: segment counting per script, cutting to fit, which numbers may be texted,
and the ``twilio`` client against a local server standing in for the Messaging API."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator

import pytest

from tests.fakes import FakeMessagingApi, messaging_api
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


@pytest.fixture()
def api() -> Iterator[str]:
    with messaging_api() as url:
        yield url


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


class FakeSender:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail = fail

    def send(self, to: str, body: str):
        from voice.stages.sms.twilio_sms import SentMessage

        if self.fail:
            raise SmsFailed("the Messaging API refused the message (HTTP 500, code None)")
        self.sent.append((to, body))
        return SentMessage("SM1", "queued", segments(body))


class KbAnswers:
    """Written answers as the knowledge base gives them (a fake of the answerer's topic lookup)."""

    def answer_topic(self, topic: str, language: str):
        from pipeline.result import FaqAnswer

        written = {"de": "Stellen Sie den Antrag rechtzeitig. " * 30, "ar": "قدّم الطلب في الوقت المناسب. " * 30}
        return FaqAnswer(topic, False, language, "spoken", ["§ 81 AufenthG"], "2026-12-06", 0.9,
                         written=written[language])


@pytest.fixture(scope="module")
def phrases():
    from pathlib import Path

    from pipeline.content import load_content
    from voice.core.languages import LANGUAGES
    from voice.runtime.phrases import load_phrases

    root = Path(__file__).resolve().parents[2] / "prompts"
    content = load_content(root / "office.example.yaml", root / "figures.yaml")
    return load_phrases(root / "phrases", tuple(LANGUAGES), content)


def test_the_written_answer_goes_out_in_four_segments_with_web_page_disclaimer_and_legal_basis(phrases):
    from voice.runtime.texting import AnswerTexter

    sender = FakeSender()
    texter = AnswerTexter(KbAnswers(), phrases, SmsPolicy(key=b"k"), sender)
    assert texter.can_text("015112345678") and not texter.can_text("+493012345678")
    result = texter.send_answer("015112345678", "aufenthaltserlaubnis-verlaengern", "de")
    (to, body), = sender.sent
    assert to == "+4915112345678" and result.status == "sent" and result.message_id == "SM1"
    website = phrases.content.fill("{office.website}", "de")
    assert website in body and "keine Rechtsberatung" in body and "§ 81 AufenthG" in body
    assert encoding(body) == "GSM-7" and segments(body) == result.segments <= 4
    sender.sent.clear()
    result = texter.send_answer("+4915112345678", "aufenthaltserlaubnis-verlaengern", "ar")
    (_, arabic), = sender.sent
    assert encoding(arabic) == "UCS-2" and segments(arabic) <= 4 and website in arabic


def test_refusals_and_failures_send_nothing_and_never_raise(phrases):
    from voice.runtime.texting import AnswerTexter

    texter = AnswerTexter(KbAnswers(), phrases, SmsPolicy(per_day=1, key=b"k"), FakeSender())
    assert texter.send_answer("+493012345678", "gebuehren", "de").status == "refused"  # a landline
    assert texter.send_answer("+4915112345678", "gebuehren", "de").status == "sent"
    assert texter.send_answer("+4915112345678", "gebuehren", "de").status == "refused"  # the daily limit
    broken = AnswerTexter(KbAnswers(), phrases, SmsPolicy(key=b"k"), FakeSender(fail=True))
    assert broken.send_answer("+4915112345678", "gebuehren", "de").status == "failed"
