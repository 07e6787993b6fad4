"""Events into and actions out of the call engine. Plain data: no transport, model or I/O types.

Transports (Twilio webhooks, Media Streams, SIP, replay) translate their wire messages into these
events and render the actions; the engine never sees a wire format. Streaming transports report
``SpeechStarted`` as soon as their endpointer hears the caller, which is what barge-in needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voice.core.domain import AnswerLike, AudioClip, Transcript
from voice.core.outcome import OutcomePolicy

# ---- events -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallStarted:
    call_id: str
    language: str | None = None  # a transport may know it (e.g. a per-language phone number)
    office_open: bool = True  # whether a person can take the call now (office profile hours)
    can_text: bool = False  # the written answer may be offered by SMS (configured, and a number that can get one)


@dataclass(frozen=True)
class SpeechStarted:
    """The endpointer heard the caller start speaking (barge-in during playback)."""


@dataclass(frozen=True)
class UtteranceFinished:
    audio: AudioClip


@dataclass(frozen=True)
class UtteranceUnreadable:
    """The transport got the caller's audio but could not decode it (or could not fetch it)."""

    detail: str


@dataclass(frozen=True)
class DigitsPressed:
    digits: str


@dataclass(frozen=True)
class NoInput:
    """The caller said and pressed nothing within the listening window."""


@dataclass(frozen=True)
class PlaybackFinished:
    play_id: int


@dataclass(frozen=True)
class Transcribed:
    transcript: Transcript


@dataclass(frozen=True)
class Answered:
    answer: AnswerLike


@dataclass(frozen=True)
class StageFailed:
    stage: str  # "asr", "retrieval", "tts", "storage"
    error: str


@dataclass(frozen=True)
class TextResult:
    """What became of ``SendText``: ``sent``, ``refused`` (not to this number, or the daily limit) or
    ``failed`` (the messaging service)."""

    status: str
    segments: int = 0


@dataclass(frozen=True)
class CallEnded:
    reason: str = "hangup"


Event = (
    CallStarted
    | SpeechStarted
    | UtteranceFinished
    | UtteranceUnreadable
    | DigitsPressed
    | NoInput
    | PlaybackFinished
    | Transcribed
    | Answered
    | StageFailed
    | TextResult
    | CallEnded
)

# ---- actions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """A fixed phrase from ``prompts/phrases/<language>.yaml`` with its parameters."""

    key: str
    language: str
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SpokenText:
    """Free text (an FAQ answer) already in ``language``."""

    text: str
    language: str


Utterance = Prompt | SpokenText


@dataclass(frozen=True)
class Play:
    items: tuple[Utterance, ...]
    play_id: int
    barge_in: bool = True  # caller speech may interrupt it


@dataclass(frozen=True)
class StopPlayback:
    """Cut the current playback at once (barge-in, or a key pressed during a prompt).

    ``interrupted_turn`` names the turn whose answer was cut off, so it can be recorded as interrupted.
    """

    play_id: int
    interrupted_turn: int | None = None


@dataclass(frozen=True)
class Listen:
    """Open the microphone for one utterance; digits are accepted too."""

    max_seconds: int = 20
    digits: str = "0*#"  # keys that end listening early


@dataclass(frozen=True)
class CollectDigits:
    max_digits: int = 1
    timeout_s: int = 8


@dataclass(frozen=True)
class Transcribe:
    audio: AudioClip
    language: str | None = None


@dataclass(frozen=True)
class FindAnswer:
    text: str
    language: str


@dataclass(frozen=True)
class LookupAnswer:
    """The curated answer of a topic chosen on the keypad (no retrieval needed)."""

    topic: str
    language: str


@dataclass(frozen=True)
class Transfer:
    """Hand the call to a person (the transport dials the office's transfer number for ``language``,
    telling them the ``topic`` of the call where one is known)."""

    language: str = ""
    topic: str | None = None


@dataclass(frozen=True)
class RecordTurn:
    """Store one question and what the hotline did with it.

    ``outcome`` is ``answer``, ``confirm`` (a confirmation was asked: ``offered`` the topics, ``choice``
    the caller's reply), ``handover`` or empty (the keypad topic menu); ``recognition`` how sure speech
    recognition was (``voice.core.outcome.Recognition``).
    """

    turn: int
    transcript: Transcript | None
    answer: AnswerLike | None
    outcome: str = ""
    offered: tuple[str, ...] = ()
    choice: str | None = None
    recognition: str = ""


@dataclass(frozen=True)
class StoreRating:
    rating: int


@dataclass(frozen=True)
class SendText:
    """Send the written answer of ``topic`` by SMS to the number that called (the caller pressed 2: consent)."""

    turn: int
    topic: str
    language: str


@dataclass(frozen=True)
class FollowUp:
    """What the caller did with a short answer's menu for ``turn``: ``details``, ``repeat`` or ``text``."""

    turn: int
    choice: str


@dataclass(frozen=True)
class Hangup:
    reason: str = "completed"


Action = (
    Play
    | StopPlayback
    | Listen
    | CollectDigits
    | Transcribe
    | FindAnswer
    | LookupAnswer
    | Transfer
    | RecordTurn
    | StoreRating
    | FollowUp
    | SendText
    | Hangup
)


@dataclass(frozen=True)
class EngineConfig:
    max_turns: int = 3
    max_retries: int = 2  # not understood / no speech, per question
    language_confirm_below: float = 0.6  # detected-language confidence that counts as unsure
    default_language: str = "de"
    # language -> language actually spoken (no voice for it: its documented fallback); filled in by
    # the composition root from the synthesizer, see ``voice.core.languages.spoken_language``
    voice_fallbacks: dict[str, str] = field(default_factory=dict)
    # the language menu, in the order it is read out (each language named in itself)
    languages: tuple[str, ...] = (
        "de",
        "en",
        "tr",
        "ar",
        "uk",
        "ru",
        "fa",
        "ps",
        "ku",
        "ti",
        "so",
        "sq",
        "sr",
        "ro",
        "pl",
        "fr",
        "es",
        "vi",
        "zh",
    )
    # languages speech recognition cannot understand: the keypad topic menu starts automatically
    keypad_only: frozenset[str] = frozenset({"ku", "ti"})
    # keypad topic menu: (category, topic ids) in menu order, and each topic's spoken title per language
    menu: tuple[tuple[str, tuple[str, ...]], ...] = ()
    topic_titles: dict[str, dict[str, str]] = field(default_factory=dict)
    page_size: int = 8
    # calls are recorded: the greeting says so (the consent notice, phrase ``recording_notice``)
    recording_notice: bool = False
    # answer, confirm, repeat or hand over: recognition thresholds (voice.core.outcome)
    outcome_policy: OutcomePolicy = field(default_factory=OutcomePolicy)
    # confirming a topic: short spoken titles (language -> topic -> title) and the words a caller may
    # say instead of a key (language -> "yes"/"two"/"no" -> phrases), from prompts/confirm/
    confirm_titles: dict[str, dict[str, str]] = field(default_factory=dict)
    confirm_words: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
