"""Rendering engine actions as TwiML (Twilio's call-control XML). The only module that writes TwiML."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from twilio.twiml.voice_response import Connect, Dial, Gather, VoiceResponse

from voice.core.engine_types import Action, CollectDigits, Hangup, Listen, Play, Transfer
from voice.runtime.driver import PlayedItem


@dataclass(frozen=True)
class Routes:
    """Absolute URLs of the webhook routes that TwiML points back to."""

    recording: str
    digits: str
    no_input: str
    continue_: str


def render(
    actions: Sequence[Action],
    plays: dict[int, list[PlayedItem]],
    audio_url: Callable[[str], str],
    routes: Routes,
    dial: Callable[[Transfer], tuple[str, str]],
) -> str:
    """``dial`` gives the number for a transfer and the URL of the whisper its staff hear first."""
    """TwiML for the output actions of one engine step (work actions are ignored here)."""
    response = VoiceResponse()
    pending: list[str] = []
    for action in actions:
        if isinstance(action, Play):
            pending += [audio_url(item.audio.key) for item in plays.get(action.play_id, []) if item.audio]
        elif isinstance(action, Listen):
            _gather(response, pending, routes.digits, timeout=1)  # a key during the prompt interrupts it
            response.record(
                action=routes.recording,
                method="POST",
                max_length=action.max_seconds,
                timeout=3,
                finish_on_key=action.digits,
                play_beep=True,
                trim="trim-silence",
            )
            response.redirect(routes.no_input, method="POST")
            pending = []
        elif isinstance(action, CollectDigits):
            _gather(response, pending, routes.digits, timeout=action.timeout_s, num_digits=action.max_digits)
            response.redirect(routes.no_input, method="POST")
            pending = []
        elif isinstance(action, Transfer):
            _play_all(response, pending)
            connect(response, *dial(action))
            pending = []
        elif isinstance(action, Hangup):
            _play_all(response, pending)
            response.hangup()
            pending = []
    _play_all(response, pending)
    return str(response)


def _gather(response: VoiceResponse, urls: list[str], action: str, timeout: int, num_digits: int = 1) -> None:
    gather = Gather(num_digits=num_digits, timeout=timeout, action=action, method="POST", action_on_empty_result=False)
    for url in urls:
        gather.play(url)
    response.append(gather)


def _play_all(response: VoiceResponse, urls: list[str]) -> None:
    for url in urls:
        response.play(url)


def wait_and_continue(audio: str | None, routes: Routes) -> str:
    """ "One moment, please" (or a short pause) and come back: keeps Twilio from timing out."""
    response = VoiceResponse()
    if audio:
        response.play(audio)
    else:
        response.pause(length=2)
    response.redirect(routes.continue_, method="POST")
    return str(response)


def connect(response: VoiceResponse, number: str, whisper: str = "") -> None:
    """Dial a person (who first hears ``whisper``'s TwiML: the caller's language and topic), or hang up."""
    if not number:
        response.hangup()
        return
    dial = Dial()
    if whisper:
        dial.number(number, url=whisper, method="POST")
    else:
        dial.number(number)
    response.append(dial)


def spoken_fallback(text: str, transfer_number: str | None, whisper: str = "") -> str:
    """Last resort when our own audio cannot be produced: Twilio's voice reads the apology."""
    response = VoiceResponse()
    response.say(text, language="de-DE")
    connect(response, transfer_number or "", whisper)
    return str(response)


def play(urls: list[str]) -> str:
    """Audio and nothing else (the whisper to staff: when it ends, Twilio connects the call)."""
    response = VoiceResponse()
    for url in urls:
        response.play(url)
    return str(response)


def busy(urls: list[str]) -> str:
    """All lines busy: the message (German, then English) and the end of the call."""
    response = VoiceResponse()
    for url in urls:
        response.play(url)
    response.hangup()
    return str(response)


def connect_stream(stream_url: str, parameters: dict[str, str], action: str) -> str:
    """A bidirectional Media Stream; when it closes Twilio asks ``action`` what to do next."""
    response = VoiceResponse()
    connect = Connect(action=action, method="POST")
    stream = connect.stream(url=stream_url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def after_stream(transfer_number: str | None, whisper: str = "") -> str:
    """What follows a closed Media Stream: the transfer to a person, or the end of the call."""
    response = VoiceResponse()
    connect(response, transfer_number or "", whisper)
    return str(response)
