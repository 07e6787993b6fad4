"""Keypad menus of the call engine: the language menu, language confirmation, the topic menu.

Pure functions over ``CallState`` like the rest of the engine. Menus are paginated (``page_size``
entries, 9 for more); ``*`` goes back; ``0`` (a person) is handled by the engine before these run.
"""

from __future__ import annotations

from dataclasses import replace

from voice.core.call_state import CallState, Phase, Step, play, spoken
from voice.core.domain import Transcript
from voice.core.engine_types import CollectDigits, FindAnswer, Listen, LookupAnswer, Prompt, Utterance

MORE = "9"
BACK = "*"


def _page(items: tuple[str, ...], page: int, size: int) -> tuple[tuple[str, ...], bool]:
    start = page * size
    return items[start : start + size], start + size < len(items)


def open_language_menu(state: CallState, page: int = 0) -> Step:
    """Read one page of languages, each named in itself and spoken in its own (or fallback) voice."""
    chunk, more = _page(state.config.languages, page, state.config.page_size)
    items: list[Utterance | str] = [
        Prompt("language_menu_item", spoken(state, code), (("language", code), ("digit", str(i + 1))))
        for i, code in enumerate(chunk)
    ]
    if more:
        items.append("language_menu_more")
    state = replace(state, phase=Phase.LANGUAGE_MENU, menu_page=page)
    state, menu = play(state, *items)
    return state, [menu, CollectDigits(max_digits=1)]


def language_menu_digit(state: CallState, key: str) -> Step:
    chunk, more = _page(state.config.languages, state.menu_page, state.config.page_size)
    if key == MORE:
        return open_language_menu(state, state.menu_page + 1 if more else 0)
    if key == BACK:
        return _resume(state)
    if key.isdigit() and 1 <= int(key) <= len(chunk):
        return choose_language(state, chunk[int(key) - 1])
    return _invalid(state, lambda s: open_language_menu(s, s.menu_page))


def choose_language(state: CallState, code: str) -> Step:
    """The caller picked a language: no more detection; keypad-only languages go to the topic menu."""
    state = replace(state, language=code, language_locked=True, retries=0, pending=None)
    changed = Prompt("language_changed", spoken(state), (("language", code),))
    if code in state.config.keypad_only:
        return open_topic_menu(state, lead=(changed, "keypad_menu_intro"))
    return _resume(state, changed)


def _resume(state: CallState, *lead: Utterance) -> Step:
    phase = Phase.FOLLOW_UP if state.turn else Phase.LISTENING
    if state.language in state.config.keypad_only:
        return open_topic_menu(replace(state, phase=phase))
    state, prompt = play(replace(state, phase=phase), *lead, "ask_question")
    return state, [prompt, Listen()]


def confirm_language(state: CallState, t: Transcript) -> Step:
    """Detection is unsure: ask in the detected language before answering in it."""
    assert t.language is not None
    ask = Prompt("language_confirm", spoken(state, t.language), (("language", t.language),))
    state = replace(state, phase=Phase.CONFIRM_LANGUAGE, pending=t)
    state, prompt = play(state, ask)
    return state, [prompt, CollectDigits(max_digits=1)]


def confirm_digit(state: CallState, key: str) -> Step:
    pending = state.pending
    if key == "1" and pending is not None and pending.language:
        state = replace(
            state,
            language=pending.language,
            language_locked=True,
            phase=Phase.ANSWERING,
            transcript=pending,
            pending=None,
        )
        return state, [FindAnswer(pending.text, spoken(state))]
    return open_language_menu(replace(state, pending=None))


def _categories(state: CallState) -> tuple[str, ...]:
    return tuple(category for category, topics in state.config.menu if topics)


def _topics(state: CallState, category: str) -> tuple[str, ...]:
    return next((topics for name, topics in state.config.menu if name == category), ())


def open_topic_menu(
    state: CallState, category: str | None = None, page: int = 0, lead: tuple[Utterance | str, ...] = ()
) -> Step:
    """Categories first, then the topics of one category; each item with its digit."""
    lang = spoken(state)
    items: list[Utterance | str] = list(lead)
    if category is None:
        chunk, more = _page(_categories(state), page, state.config.page_size)
        items += [
            Prompt("category_item", lang, (("category", f"@category_{c}"), ("digit", str(i + 1))))
            for i, c in enumerate(chunk)
        ]
    else:
        chunk, more = _page(_topics(state, category), page, state.config.page_size)
        titles = state.config.topic_titles
        items += [
            Prompt("topic_item", lang, (("topic", titles.get(t, {}).get(lang, t)), ("digit", str(i + 1))))
            for i, t in enumerate(chunk)
        ]
    if more:
        items.append("menu_more")
    if category is not None:
        items.append("menu_back")
    state = replace(state, phase=Phase.TOPIC_MENU, menu_category=category, menu_page=page)
    state, menu = play(state, *items)
    return state, [menu, CollectDigits(max_digits=1)]


def topic_menu_digit(state: CallState, key: str) -> Step:
    category = state.menu_category
    items = _categories(state) if category is None else _topics(state, category)
    chunk, more = _page(items, state.menu_page, state.config.page_size)
    if key == MORE:
        return open_topic_menu(state, category, state.menu_page + 1 if more else 0)
    if key == BACK:
        return open_language_menu(state) if category is None else open_topic_menu(state)
    if not (key.isdigit() and 1 <= int(key) <= len(chunk)):
        return _invalid(state, lambda s: open_topic_menu(s, s.menu_category, s.menu_page))
    choice = chunk[int(key) - 1]
    if category is None:
        return open_topic_menu(state, choice)
    state = replace(state, phase=Phase.ANSWERING, transcript=None, menu_category=None, menu_page=0)
    return state, [LookupAnswer(choice, spoken(state))]


def _invalid(state: CallState, reopen: object) -> Step:
    assert callable(reopen)
    state, sorry = play(state, "invalid_choice")
    state, actions = reopen(state)
    return state, [sorry, *actions]
