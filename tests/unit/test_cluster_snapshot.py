"""A webhook call's state survives the trip through JSON (what another node reads back)."""

from __future__ import annotations

import json

import pytest

from voice.core.call_state import CallState, Phase
from voice.core.domain import SpeechStatus, Transcript
from voice.core.engine_types import EngineConfig
from voice.runtime.cluster import snapshot
from voice.runtime.cluster.snapshot import CallSnapshot, KeptAnswer

pytestmark = pytest.mark.unit


def test_every_field_of_the_engine_state_comes_back_equal():
    config = EngineConfig(max_turns=5)
    heard = Transcript("Wie lange dauert es?", "de", 0.93, 2.5, SpeechStatus.OK, asr_ms=812.0, avg_logprob=-0.31)
    answer = KeptAnswer("einbuergerung", False, "de", "Die Einbürgerung …", ["§ 10 StAG"], "2026-11-30", 0.71,
                        0.2, "ok", "answer", ["einbuergerung"], [("einbuergerung", 0.71), ("pass", 0.1)], "Kurz.")
    state = CallState(call_id="CA9", phase=Phase.CONFIRM_TOPIC, language="tr", language_locked=True, turn=2,
                      retries=1, next_play_id=7, playing=6, transcript=heard, pending=heard, offered=("a", "b"),
                      chosen="2", heard="unsure", short_answer=answer, can_text=True, handovers=1, config=config)
    snap = CallSnapshot(state, "call-1", False, {1: ["details", "sms"]}, {"endpoint": 120.0}, True)
    back = snapshot.load(json.loads(json.dumps(snapshot.dump(snap))), config)
    assert back == snap


def test_state_of_another_format_is_refused():
    with pytest.raises(ValueError, match="format"):
        snapshot.load({"format": 99, "state": {}}, EngineConfig())


def test_the_callers_number_is_not_part_of_the_snapshot():
    assert "caller" not in json.dumps(snapshot.dump(CallSnapshot(CallState(call_id="CA1"), "id"))).lower()
