"""Confirming the topic of a question before answering it (pure, part of the call engine).

"Is your question about <topic>? Press 1. If it is about <runner-up>, press 2. For a person, press 0."
The titles are short spoken noun phrases per language (``prompts/confirm/<lang>.yaml``); where speech
reaches the engine during the confirmation (Media Streams, SIP, replay), the caller may also say yes,
no or the number, in their language. A longer reply is taken as a new question.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from enum import StrEnum

from voice.core.call_state import CallState, Phase, Step, handover, play, spoken
from voice.core.domain import AnswerLike, Transcript
from voice.core.engine_types import CollectDigits, Listen, LookupAnswer, Prompt, RecordTurn, Utterance
from voice.core.outcome import Outcome

# a reply of more words than this that names no choice is a new question, not an answer to "is it …?"
MAX_REPLY_WORDS = 4


class Choice(StrEnum):
    FIRST = "1"
    SECOND = "2"
    NO = "no"  # neither: the caller is asked to put the question differently
    PERSON = "person"
    INVALID = "invalid"
    QUESTION = "question"  # the caller asked something else instead


def ask(state: CallState, offered: tuple[str, ...], *lead: Utterance | str) -> Step:
    """Offer one or two topics; the caller answers on the keypad (or by voice where it is heard)."""
    lang = spoken(state)
    titles = state.config.confirm_titles.get(lang, {})

    def title(topic: str) -> str:
        return titles.get(topic, topic.replace("-", " "))

    if len(offered) > 1:
        params = (("topic", title(offered[0])), ("alternative", title(offered[1])))
        prompt = Prompt("topic_confirm", lang, params)
    else:
        prompt = Prompt("topic_confirm_single", lang, (("topic", title(offered[0])),))
    state = replace(state, phase=Phase.CONFIRM_TOPIC, offered=offered[:2], chosen=None)
    state, message = play(state, *lead, prompt)
    return state, [message, CollectDigits(max_digits=1, timeout_s=8)]


def key_choice(state: CallState, key: str) -> Choice:
    if key == "1":
        return Choice.FIRST
    if key == "2":
        return Choice.SECOND if len(state.offered) > 1 else Choice.NO
    if key == "0":
        return Choice.PERSON
    return Choice.INVALID


def speech_choice(state: CallState, t: Transcript) -> Choice:
    """What a spoken reply means, by the word lists of the caller's language (and of the voice's).

    The longest phrase found wins, so "neither the one nor the other" is a no although it holds "the
    other"; a digit said as a digit ("1", "2") counts in every language. A long "no, …" is a new question.
    """
    words = _words(t.text)
    if not words:
        return Choice.INVALID
    text = " ".join(words)
    found: list[tuple[int, Choice]] = []
    for lang in dict.fromkeys((state.language, spoken(state), t.language or state.language)):
        lists = state.config.confirm_words.get(lang, {})
        for key, choice in (("no", Choice.NO), ("two", Choice.SECOND), ("yes", Choice.FIRST)):
            found += [(len(phrase), choice) for phrase in lists.get(key, ()) if _contains(text, phrase)]
    found += [(1, c) for digit, c in (("1", Choice.FIRST), ("2", Choice.SECOND)) if digit in words]
    if not found:
        return Choice.QUESTION if len(words) > MAX_REPLY_WORDS else Choice.INVALID
    choice = max(found, key=lambda f: f[0])[1]  # max() keeps the first of equals: no, then two, then yes
    if choice is Choice.NO and len(words) > MAX_REPLY_WORDS:
        return Choice.QUESTION  # "no, I wanted to ask about …": the rest is the question
    return Choice.NO if choice is Choice.SECOND and len(state.offered) < 2 else choice


def choose(state: CallState, choice: Choice) -> Step:
    """Answer the topic the caller chose (the answer then counts as confirmed, not re-judged)."""
    topic = state.offered[0] if choice is Choice.FIRST else state.offered[1]
    state = replace(state, phase=Phase.ANSWERING, chosen=choice.value, retries=0)
    return state, [LookupAnswer(topic, spoken(state))]


def record(state: CallState, turn: int, a: AnswerLike | None, outcome: Outcome) -> RecordTurn:
    """The turn record, with the confirmation that was asked (if any) and how sure recognition was."""
    keypad = state.transcript is None and not state.offered
    return RecordTurn(
        turn,
        state.transcript,
        a,
        outcome="keypad" if keypad else outcome.value,
        offered=state.offered,
        choice=state.chosen,
        recognition=state.heard,
    )


def reply(state: CallState, choice: Choice) -> Step:
    """The caller answered "is your question about …?": answer, rephrase, a person, or ask again."""
    if choice in (Choice.FIRST, Choice.SECOND):
        return choose(state, choice)
    if choice in (Choice.PERSON, Choice.NO):
        turn = state.turn + 1
        row = record(replace(state, chosen=choice.value), turn, None, Outcome.CONFIRM)
        state = replace(state, turn=turn, offered=(), chosen=None, retries=0, repeats=0, phase=Phase.FOLLOW_UP)
        if choice is Choice.PERSON:
            state, actions = handover(state, first=None)
        elif turn >= state.config.max_turns:
            state, actions = handover(state)
        else:
            state, prompt = play(state, "rephrase_question")
            actions = [prompt, Listen()]
        return state, [row, *actions]
    if state.retries >= 1:  # a second unclear reply: a person can sort it out
        return reply(replace(state, retries=0), Choice.PERSON)
    return ask(replace(state, retries=state.retries + 1), state.offered, "invalid_choice")


def _words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.findall(r"\w+", folded)


def _contains(text: str, phrase: str) -> bool:
    words = " ".join(_words(phrase))
    if not words:
        return False
    if re.search(r"[\u3040-\u9fff]", words):  # scripts written without spaces: a substring is a word
        return words in text
    return re.search(rf"(?<!\w){re.escape(words)}(?!\w)", text) is not None
