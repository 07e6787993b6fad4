"""The call engine: a pure state machine, ``step(state, event) -> (state, actions)``.

It does no I/O and imports no transport or model: every transport feeds it the same events and
renders the same actions, and tests drive it in microseconds. Work that takes time (recognition,
retrieval) is requested as an action and comes back as an event, so a streaming transport keeps
reading audio meanwhile and a replay runs exactly the live logic.
"""

from __future__ import annotations

from dataclasses import replace

from voice.core import confirm, menus, short_answer
from voice.core.call_state import CallState, Phase, Step, ask_rating, handover, play, spoken
from voice.core.confirm import Choice
from voice.core.domain import AnswerLike, SpeechStatus, Transcript
from voice.core.engine_types import (
    Answered,
    CallEnded,
    CallStarted,
    CollectDigits,
    DigitsPressed,
    Event,
    FindAnswer,
    Hangup,
    Listen,
    LookupAnswer,
    NoInput,
    Play,
    PlaybackFinished,
    SendText,
    SpeechStarted,
    SpokenText,
    StageFailed,
    StopPlayback,
    StoreRating,
    TextResult,
    Transcribe,
    Transcribed,
    Utterance,
    UtteranceFinished,
    UtteranceUnreadable,
)
from voice.core.outcome import Outcome, Recognition, decide, recognition

__all__ = ["CallState", "Phase", "Step", "spoken", "step"]


def step(state: CallState, event: Event) -> Step:
    """Apply one event. Events that make no sense in the current phase are ignored, never fatal."""
    if state.phase is Phase.ENDED:
        return state, []
    match event:
        case CallStarted():
            return _start(state, event)
        case CallEnded():
            return replace(state, phase=Phase.ENDED, playing=None), []
        case SpeechStarted():
            if state.playing is not None and state.phase in _HEARING:
                return _stop_playback(state)
            return state, []
        case PlaybackFinished(play_id=pid):
            return (replace(state, playing=None) if pid == state.playing else state), []
        case UtteranceFinished(audio=audio):
            if state.phase not in _HEARING:
                return state, []
            lang = state.language if state.language_locked or state.phase is Phase.CONFIRM_TOPIC else None
            return replace(state, phase=Phase.TRANSCRIBING, short_answer=None), [Transcribe(audio, lang)]
        case UtteranceUnreadable(detail=detail):
            if state.phase not in _HEARING:
                return state, []
            t = Transcript("", None, 0.0, 0.0, SpeechStatus.UNREADABLE, detail)
            return _transcribed(replace(state, transcript=t), t)
        case Transcribed(transcript=t):
            return _transcribed(state, t) if state.phase is Phase.TRANSCRIBING else (state, [])
        case Answered(answer=a):
            return _answered(state, a) if state.phase is Phase.ANSWERING else (state, [])
        case DigitsPressed(digits=d):
            return _digits(state, d)
        case NoInput():
            return _no_input(state)
        case StageFailed():
            return _failed(state)
        case TextResult():
            return short_answer.text_result(state, event)
    return state, []


# phases in which the caller's speech is heard (barge-in, a question, a spoken "yes" to a confirmation)
_HEARING = (Phase.LISTENING, Phase.FOLLOW_UP, Phase.CONFIRM_TOPIC)


def _stop_playback(state: CallState) -> Step:
    assert state.playing is not None
    cut = state.turn if state.playing == state.answer_play else None
    return replace(state, playing=None), [StopPlayback(state.playing, cut)]


def _start(state: CallState, event: CallStarted) -> Step:
    language = event.language or state.config.default_language
    state = replace(
        state,
        call_id=event.call_id,
        phase=Phase.LISTENING,
        language=language,
        language_locked=event.language is not None,
        office_open=event.office_open,
        can_text=event.can_text,
    )
    notice = ("recording_notice",) if state.config.recording_notice else ()
    state, prompt = play(state, "greeting", *notice, "multilingual_hint", "ask_question")
    return state, [prompt, Listen()]


def _transcribed(state: CallState, t: Transcript) -> Step:
    if state.offered:  # the reply to "is your question about …?"
        choice = Choice.INVALID if t.no_speech else confirm.speech_choice(state, t)
        if choice is not Choice.QUESTION:
            return confirm.reply(state, choice)
        state = replace(state, offered=(), retries=0)  # a new question instead
    if t.no_speech or not t.text.strip():
        retries = state.retries + 1
        back = Phase.FOLLOW_UP if state.turn else Phase.LISTENING
        if retries > state.config.max_retries:
            return handover(replace(state, retries=0, phase=back))
        key = "no_speech" if t.status is SpeechStatus.NO_SPEECH else "not_understood"
        state, prompt = play(replace(state, retries=retries, phase=back), key)
        return state, [prompt, Listen()]
    if recognition(t, state.config.outcome_policy) is Recognition.GARBLED:
        return _repeat(state)  # nothing to look up: the words themselves are doubtful
    language = caller_language(state, t)
    if language is None:
        return menus.confirm_language(replace(state, retries=0), t)
    state = replace(state, phase=Phase.ANSWERING, transcript=t, language=language, retries=0)
    return state, [FindAnswer(t.text, spoken(state))]


def caller_language(state: CallState, t: Transcript) -> str | None:
    """The caller's language after hearing ``t``; None when detection is too unsure to switch (the
    caller is asked). Streaming transports use it to look the answer up before the engine asks."""
    if not state.language_locked and t.language and t.language != state.language:
        if t.language_probability < state.config.language_confirm_below:
            return None
        return t.language
    return state.language


def _answered(state: CallState, a: AnswerLike) -> Step:
    outcome = Outcome.CONFIRM if state.chosen else Outcome.ANSWER if not a.handover else Outcome.HANDOVER
    if not state.chosen:  # a confirmed topic is answered as chosen; anything else is judged first
        decision = decide(state.transcript, a, state.config.outcome_policy)
        state = replace(state, heard=decision.recognition.value)
        if decision.outcome is Outcome.CONFIRM:
            return confirm.ask(replace(state, retries=0), decision.offered)
        if decision.outcome is Outcome.REPEAT:
            return _repeat(state)
    turn = state.turn + 1
    record = confirm.record(state, turn, a, outcome)
    state = replace(state, turn=turn, phase=Phase.FOLLOW_UP, offered=(), chosen=None, repeats=0, short_answer=None)
    if a.handover:
        state, actions = handover(state)
        return state, [actions[0], record, *actions[1:]]  # recorded after its audio is rendered
    short = short_answer.offered(state, a, turn)
    items: list[Utterance | str] = ["answer_intro", SpokenText(a.short if short else a.text, a.language)]
    items += short_answer.basis(state, a)
    if not state.disclaimer_given:
        items.append("disclaimer")
        state = replace(state, disclaimer_given=True)
    if short:
        state, prompt, listen = short_answer.give(state, a, items)
        return state, [prompt, record, *listen]
    if state.language in state.config.keypad_only and turn < state.config.max_turns:
        state, prompt = _play_answer(state, items)
        state, menu = menus.open_topic_menu(state)
        return state, [prompt, record, *menu]
    if turn >= state.config.max_turns:
        state, prompt = _play_answer(state, items)
        state, rating = ask_rating(state)
        return state, [prompt, record, *rating]
    items.append("another_question")
    state, prompt = _play_answer(state, items)
    return state, [prompt, record, Listen()]


def _repeat(state: CallState) -> Step:
    """Recognition was too unsure to act on the words: ask again, then offer a person."""
    repeats = state.repeats + 1
    back = Phase.FOLLOW_UP if state.turn else Phase.LISTENING
    if repeats > state.config.max_retries:
        return handover(replace(state, repeats=0, phase=back, offered=()))
    state, prompt = play(replace(state, repeats=repeats, phase=back, offered=()), "repeat_unclear")
    return state, [prompt, Listen()]


def _play_answer(state: CallState, items: list[Utterance | str]) -> tuple[CallState, Play]:
    state, prompt = play(state, *items)
    return replace(state, answer_play=prompt.play_id), prompt


def _goodbye(state: CallState, *first: str) -> Step:
    state, prompt = play(replace(state, phase=Phase.ENDED), *first, "goodbye", barge_in=False)
    return state, [prompt, Hangup()]


def _digits(state: CallState, digits: str) -> Step:
    """A key cuts the prompt that is playing when it leads somewhere (a new prompt, or the answer the caller
    chose, follows at once)."""
    playing = state.playing
    state, actions = _on_key(state, digits)
    if playing is not None and any(isinstance(a, (Play, LookupAnswer, SendText)) for a in actions):
        cut = state.turn if playing == state.answer_play else None
        if state.playing == playing:  # nothing new is playing yet (the answer is being looked up)
            state = replace(state, playing=None)
        return state, [StopPlayback(playing, cut), *actions]
    return state, actions


def _on_key(state: CallState, digits: str) -> Step:
    key = digits.strip()[:1]
    if state.phase is Phase.RATING:
        if key in {"1", "2", "3", "4", "5"}:
            rating = int(key)
            state, actions = _goodbye(replace(state, rating=rating), "rating_thanks")
            return state, [StoreRating(rating), *actions]
        return _rating_retry(state)
    if state.phase not in _INTERACTIVE:
        return state, []
    if state.phase is Phase.CONFIRM_TOPIC:
        return confirm.reply(state, confirm.key_choice(state, key))
    chosen = short_answer.key(state, key)
    if chosen is not None:
        return chosen
    if key == "0":
        return handover(state, first=None)
    if key == "#" and state.turn > 0 and state.phase in (Phase.FOLLOW_UP, Phase.TOPIC_MENU):
        return ask_rating(state)
    if state.phase is Phase.LANGUAGE_MENU:
        return menus.language_menu_digit(state, key)
    if state.phase is Phase.CONFIRM_LANGUAGE:
        return menus.confirm_digit(state, key)
    if state.phase is Phase.TOPIC_MENU:
        return menus.topic_menu_digit(state, key)
    if key == "*":
        return menus.open_language_menu(state)
    return state, []


_INTERACTIVE = (
    Phase.LISTENING,
    Phase.FOLLOW_UP,
    Phase.LANGUAGE_MENU,
    Phase.CONFIRM_LANGUAGE,
    Phase.TOPIC_MENU,
    Phase.CONFIRM_TOPIC,
)


def _rating_retry(state: CallState) -> Step:
    attempts = state.rating_attempts + 1
    if attempts > 1:
        return _goodbye(replace(state, rating_attempts=attempts))
    state, prompt = play(replace(state, rating_attempts=attempts), "rating_invalid")
    return state, [prompt, CollectDigits(max_digits=1)]


def _no_input(state: CallState) -> Step:
    if state.phase is Phase.RATING:
        return _rating_retry(state)
    if state.phase is Phase.FOLLOW_UP:
        return ask_rating(state)
    if state.phase is Phase.CONFIRM_TOPIC:
        return confirm.reply(state, Choice.INVALID)
    if state.phase in (Phase.LANGUAGE_MENU, Phase.CONFIRM_LANGUAGE, Phase.TOPIC_MENU):
        retries = state.retries + 1
        if retries > state.config.max_retries:
            return ask_rating(state) if state.turn else _goodbye(state)
        state = replace(state, retries=retries, pending=None)
        if state.phase is Phase.TOPIC_MENU:
            return menus.open_topic_menu(state, state.menu_category, state.menu_page)
        return menus.open_language_menu(state, state.menu_page)
    if state.phase is Phase.LISTENING:
        retries = state.retries + 1
        if retries > state.config.max_retries:
            return _goodbye(state)
        state, prompt = play(replace(state, retries=retries), "no_speech")
        return state, [prompt, Listen()]
    return state, []


def _failed(state: CallState) -> Step:
    """A stage failed: apologise and let the caller try again; after repeated failures, a person."""
    retries = state.retries + 1
    back = Phase.FOLLOW_UP if state.turn else Phase.LISTENING
    if retries > state.config.max_retries:
        return handover(replace(state, retries=0, phase=back), first="technical_fallback")
    state, prompt = play(replace(state, retries=retries, phase=back), "technical_fallback", "ask_question")
    return state, [prompt, Listen()]
