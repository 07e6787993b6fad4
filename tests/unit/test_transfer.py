"""Who takes a handed-over call and what they learn about it first."""

from __future__ import annotations

import pytest

from voice.core.transfer import dial_digits, transfer_number, whisper_text
from voice.transports.sip.message import context_headers, with_headers

pytestmark = pytest.mark.unit

OFFICE = {"transfer_number": "+49 30 12345 100", "transfer_numbers": {"ar": "+49 30 12345 120"}}


def test_staff_for_the_callers_language_or_the_general_number():
    assert transfer_number(OFFICE, "ar") == "+49 30 12345 120"
    assert transfer_number(OFFICE, "tr") == "+49 30 12345 100"
    assert transfer_number({"transfer_number": "+49 30 1"}, "ar") == "+49 30 1"
    assert transfer_number({}, "de") == "" and dial_digits("+49 (30) 12345-100") == "+493012345100"


def test_the_context_travels_as_escaped_uri_headers_and_as_a_german_whisper():
    headers = context_headers("ar", "aufenthaltserlaubnis-verlaengern", "https://amt.example/dashboard/calls/1 2")
    uri = with_headers("sip:+4930@pbx:5060", headers)
    assert uri == ("sip:+4930@pbx:5060?X-Hotline-Language=ar&X-Hotline-Topic=aufenthaltserlaubnis-verlaengern"
                   "&X-Hotline-Call=https%3A%2F%2Famt.example%2Fdashboard%2Fcalls%2F1%202")
    assert with_headers("sip:staff@pbx", []) == "sip:staff@pbx"
    assert whisper_text({}, "ar", "Aufenthalt verlängern") == (
        "Ein Anruf von der Hotline. Sprache: Arabisch. Thema: Aufenthalt verlängern.")
    assert whisper_text({"transfer_whisper": "Hotline, {language}."}, "uk", None) == "Hotline, Ukrainisch."
