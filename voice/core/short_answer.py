"""Short answers first, details on request.

Where a topic has a short spoken answer in the caller's language, the hotline says that (the one or two
facts most callers need), the legal basis, and then a menu: 1 for the details (the full spoken answer),
2 for the written answer by SMS (only where the call can get one: ``CallStarted.can_text``; pressing 2 is
the caller's consent), 3 to hear the short answer again, or just the next question. Speech still barges
in, 0 still reaches a person and # the rating. The last turn of a call and keypad-only languages keep the
full answer, so the call stays bounded and the topic menu keeps its flow. Every choice is recorded with
its turn.
"""

from __future__ import annotations

from dataclasses import replace

from voice.core.call_state import CallState, Phase, Step, play, spoken
from voice.core.domain import AnswerLike
from voice.core.engine_types import FollowUp, Listen, Play, Prompt, SendText, SpokenText, TextResult, Utterance

TEXT_PROMPTS = {"sent": "sms_sent", "refused": "sms_unavailable", "failed": "sms_failed"}


def _menu(state: CallState) -> tuple[str, str, Listen]:
    """The menu prompt, its keys, and the Listen that ends early on them too (record mode needs that)."""
    prompt, keys = ("answer_menu_sms", "123") if state.can_text else ("answer_menu", "13")
    return prompt, keys, Listen(digits=Listen().digits + keys)


def offered(state: CallState, a: AnswerLike, turn: int) -> bool:
    """Whether this answer is given short (with the details menu) rather than in full."""
    return bool(a.short) and turn < state.config.max_turns and state.language not in state.config.keypad_only


def basis(state: CallState, a: AnswerLike) -> list[Utterance | str]:
    if not a.legal_basis:
        return []
    params = (("legal_basis", ", ".join(a.legal_basis)), ("as_of", a.as_of))
    return [Prompt("legal_basis_intro", spoken(state), params)]


def give(state: CallState, a: AnswerLike, lead: list[Utterance | str]) -> tuple[CallState, Play, list[Listen]]:
    """Say the short answer with ``lead`` (intro, legal basis, disclaimer) and open the menu."""
    menu, _, listen = _menu(state)
    state, prompt = play(state, *lead, menu)
    return replace(state, answer_play=prompt.play_id, short_answer=a), prompt, [listen]


def key(state: CallState, digit: str) -> Step | None:
    """A key while the menu of a short answer is open; None when the key is not the menu's."""
    a = state.short_answer
    menu, keys, listen = _menu(state)
    if a is None or state.phase is not Phase.FOLLOW_UP or not digit or digit not in keys:
        return None
    if digit == "2":
        state = replace(state, short_answer=None, answer_play=None)  # a menu choice, not a barge-in
        return state, [FollowUp(state.turn, "text"), SendText(state.turn, a.topic or "", a.language)]
    if digit == "1":
        state, prompt = play(replace(state, short_answer=None), SpokenText(a.text, a.language), "another_question")
        return replace(state, answer_play=prompt.play_id), [prompt, FollowUp(state.turn, "details"), Listen()]
    state, prompt = play(state, SpokenText(a.short, a.language), menu)
    state = replace(state, answer_play=prompt.play_id)
    return state, [prompt, FollowUp(state.turn, "repeat"), listen]


def text_result(state: CallState, result: TextResult) -> Step:
    """Tell the caller what became of the text message; a refusal or failure reads out the web page."""
    if state.phase is not Phase.FOLLOW_UP:
        return state, []
    state, prompt = play(state, TEXT_PROMPTS.get(result.status, "sms_failed"), "another_question")
    return state, [prompt, Listen()]
