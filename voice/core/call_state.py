"""The call engine's state and the helpers every part of the engine uses to build actions."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from voice.core.domain import AnswerLike, Transcript
from voice.core.engine_types import Action, CollectDigits, EngineConfig, Listen, Play, Prompt, Transfer, Utterance


class Phase(StrEnum):
    IDLE = "idle"
    LISTENING = "listening"  # waiting for a question
    TRANSCRIBING = "transcribing"
    ANSWERING = "answering"
    FOLLOW_UP = "follow_up"  # answer given, "another question?"
    RATING = "rating"
    LANGUAGE_MENU = "language_menu"
    CONFIRM_LANGUAGE = "confirm_language"  # detection unsure: "You speak Turkish? Press 1"
    TOPIC_MENU = "topic_menu"  # keypad topic menu (languages Whisper cannot recognise, or by choice)
    CONFIRM_TOPIC = "confirm_topic"  # "Is your question about …? Press 1 …"
    TRANSFERRED = "transferred"
    ENDED = "ended"


@dataclass(frozen=True)
class CallState:
    """Everything the engine remembers about one call."""

    call_id: str = ""
    phase: Phase = Phase.IDLE
    language: str = "de"
    language_locked: bool = False  # chosen by the caller: no more detection
    office_open: bool = True
    turn: int = 0
    retries: int = 0
    rating_attempts: int = 0
    next_play_id: int = 1
    playing: int | None = None
    answer_play: int | None = None  # play id of the latest answer (barge-in marks that turn interrupted)
    fallback_announced: bool = False
    disclaimer_given: bool = False
    transcript: Transcript | None = None
    rating: int | None = None
    handovers: int = 0
    menu_page: int = 0
    menu_category: str | None = None
    pending: Transcript | None = None  # question held while the caller confirms the language
    offered: tuple[str, ...] = ()  # topics a confirmation offers (kept until the turn is recorded)
    chosen: str | None = None  # the caller's reply to the confirmation ("1", "2", "no", "person")
    heard: str = ""  # how sure recognition was of the current question (voice.core.outcome.Recognition)
    repeats: int = 0  # times the caller was asked to say the current question again (recognition unsure)
    short_answer: AnswerLike | None = None  # the latest answer given short, while its menu is open
    can_text: bool = False  # the menu offers the written answer by SMS (see CallStarted)
    config: EngineConfig = field(default_factory=EngineConfig)


Step = tuple[CallState, list[Action]]


def spoken(state: CallState, language: str | None = None) -> str:
    """Language the caller hears: theirs, or its documented fallback where no voice exists."""
    lang = language or state.language
    return state.config.voice_fallbacks.get(lang, lang)


def play(state: CallState, *items: Utterance | str, barge_in: bool = True) -> tuple[CallState, Play]:
    lang = spoken(state)
    resolved: list[Utterance] = []
    if lang != state.language and not state.fallback_announced:
        params = (("language", state.language), ("fallback_language", lang))
        resolved.append(Prompt("no_voice_for_language", lang, params))
        state = replace(state, fallback_announced=True)
    for item in items:
        resolved.append(Prompt(item, lang) if isinstance(item, str) else item)
    play = Play(tuple(resolved), state.next_play_id, barge_in)
    return replace(state, next_play_id=state.next_play_id + 1, playing=play.play_id), play


def handover(state: CallState, first: str | None = "unsure_handover") -> Step:
    """Offer a person: transfer during office hours, otherwise the contact channels. Never a dead end."""
    state = replace(state, handovers=state.handovers + 1)
    lead = (first,) if first else ()
    if state.office_open:
        state, prompt = play(replace(state, phase=Phase.TRANSFERRED), *lead, "transfer", barge_in=False)
        topic = state.short_answer.topic if state.short_answer is not None else (state.offered or (None,))[0]
        return state, [prompt, Transfer(state.language, topic)]
    state, prompt = play(replace(state, phase=Phase.FOLLOW_UP), *lead, "out_of_hours", "another_question")
    return state, [prompt, Listen()]


def ask_rating(state: CallState) -> Step:
    state, prompt = play(replace(state, phase=Phase.RATING), "rating_request")
    return state, [prompt, CollectDigits(max_digits=1)]


def end_reason(state: CallState) -> str:
    """How a call ended, for the call record; read it before the engine sees ``CallEnded``."""
    if state.rating is not None:
        return "completed"
    if state.phase is Phase.TRANSFERRED:
        return "transferred"
    if state.phase is Phase.ENDED:
        return "goodbye"  # the hotline said goodbye (no rating given)
    return f"hangup:{state.phase.value}"  # the caller hung up here
