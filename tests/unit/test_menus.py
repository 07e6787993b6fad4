"""Keypad menus: the language menu, the keypad topic menu for languages Whisper cannot understand."""

from __future__ import annotations

import pytest

from pipeline.result import FaqAnswer
from tests.fakes import said, tone
from voice.core.engine import CallState, Phase
from voice.core.engine import step as engine_step
from voice.core.engine_types import (
    Answered,
    CallStarted,
    CollectDigits,
    DigitsPressed,
    EngineConfig,
    Listen,
    LookupAnswer,
    NoInput,
    Play,
    Prompt,
    StopPlayback,
    Transcribe,
    UtteranceFinished,
)

pytestmark = pytest.mark.unit


def step(state: CallState, event):
    """The engine's step, without the cut of the prompt playing when a key is pressed (that is tested in
    ``test_engine``): these tests are about what is said next."""
    state, actions = engine_step(state, event)
    return state, [a for a in actions if not isinstance(a, StopPlayback)]

MENU = (
    ("procedure", ("aufenthaltserlaubnis-verlaengern", "termin-vereinbaren")),
    ("work", ("blaue-karte-eu",)),
    ("study", ()),
)
TITLES = {"termin-vereinbaren": {"ku": "Ez çawa randevûyekê bistînim?", "de": "Wie bekomme ich einen Termin?"}}


def started(**config) -> CallState:
    state, _ = step(CallState(config=EngineConfig(menu=MENU, topic_titles=TITLES, **config)), CallStarted("m1"))
    return state


def prompts(action: Play) -> list[Prompt]:
    return [i for i in action.items if isinstance(i, Prompt)]


def test_star_opens_a_paginated_language_menu_each_language_in_itself():
    state, actions = step(started(), DigitsPressed("*"))
    assert state.phase is Phase.LANGUAGE_MENU
    items = prompts(actions[0])
    assert [p.params for p in items[:2]] == [(("language", "de"), ("digit", "1")), (("language", "en"), ("digit", "2"))]
    assert [p.language for p in items[:3]] == ["de", "en", "tr"]  # spoken in its own voice
    assert items[-1].key == "language_menu_more" and len(items) == 9
    state, actions = step(state, DigitsPressed("9"))
    page2 = prompts(actions[0])
    assert page2[0].params == (("language", "ku"), ("digit", "1")) and state.menu_page == 1


def test_language_without_voice_is_announced_in_its_fallback_voice():
    state, actions = step(started(voice_fallbacks={"ps": "fa"}), DigitsPressed("*"))
    pashto = next(p for p in prompts(actions[0]) if dict(p.params)["language"] == "ps")
    assert pashto.language == "fa"


def test_choosing_a_language_locks_it_for_recognition():
    state, _ = step(started(), DigitsPressed("*"))
    state, actions = step(state, DigitsPressed("3"))  # Türkçe
    assert state.language == "tr" and state.language_locked and state.phase is Phase.LISTENING
    assert [p.key for p in prompts(actions[0])] == ["language_changed", "ask_question"]
    assert isinstance(actions[1], Listen)
    state, actions = step(state, UtteranceFinished(tone()))
    assert actions == [Transcribe(actions[0].audio, "tr")]


def test_kurdish_goes_to_the_keypad_topic_menu_and_gets_the_same_answers():
    state, _ = step(started(), DigitsPressed("*"))
    state, _ = step(state, DigitsPressed("9"))
    state, actions = step(state, DigitsPressed("1"))  # Kurmancî, first of page 2
    assert state.language == "ku" and state.phase is Phase.TOPIC_MENU
    items = prompts(actions[0])
    assert items[0].key == "language_changed" and items[1].key == "keypad_menu_intro"
    categories = [dict(p.params)["category"] for p in items if p.key == "category_item"]
    assert categories == ["@category_procedure", "@category_work"]  # empty categories are left out
    state, actions = step(state, DigitsPressed("1"))
    topics = [p for p in prompts(actions[0]) if p.key == "topic_item"]
    assert dict(topics[1].params)["topic"] == "Ez çawa randevûyekê bistînim?"
    assert prompts(actions[0])[-1].key == "menu_back"
    state, actions = step(state, DigitsPressed("2"))
    assert actions == [LookupAnswer("termin-vereinbaren", "ku")] and state.phase is Phase.ANSWERING
    answer = FaqAnswer("termin-vereinbaren", False, "ku", "Bersiv", [], "2026-11-01", 1.0)
    state, actions = step(state, Answered(answer))
    assert state.phase is Phase.TOPIC_MENU  # keypad callers get the menu again, not "speak now"
    state, actions = step(state, DigitsPressed("#"))
    assert state.phase is Phase.RATING


def test_star_in_a_category_goes_back_and_invalid_keys_are_explained():
    state, _ = step(started(), DigitsPressed("*"))
    state, _ = step(state, DigitsPressed("9"))
    state, _ = step(state, DigitsPressed("1"))
    state, _ = step(state, DigitsPressed("1"))
    assert state.menu_category == "procedure"
    state, actions = step(state, DigitsPressed("7"))
    assert prompts(actions[0])[0].key == "invalid_choice" and state.menu_category == "procedure"
    state, _ = step(state, DigitsPressed("*"))
    assert state.menu_category is None and state.phase is Phase.TOPIC_MENU


def test_zero_in_a_menu_asks_for_a_person():
    state, _ = step(started(), DigitsPressed("*"))
    _, actions = step(state, DigitsPressed("0"))
    assert [p.key for p in prompts(actions[0])] == ["transfer"]


def test_silence_in_the_language_menu_repeats_it_then_ends_politely():
    state, _ = step(started(max_retries=1), DigitsPressed("*"))
    state, actions = step(state, NoInput())
    assert state.phase is Phase.LANGUAGE_MENU and isinstance(actions[-1], CollectDigits)
    state, actions = step(state, NoInput())
    assert state.phase is Phase.ENDED


def test_detected_language_with_confidence_switches_without_a_menu():
    state = started()
    from voice.core.engine_types import Transcribed

    state, _ = step(state, UtteranceFinished(tone()))
    state, actions = step(state, Transcribed(said("Oturma iznimi nasıl uzatırım?", "tr", 0.9)))
    assert state.language == "tr" and state.phase is Phase.ANSWERING
