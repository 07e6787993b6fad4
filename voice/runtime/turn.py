"""One whole turn outside a phone call: a recorded question through the live call engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voice.core.domain import AnswerLike, AudioClip, SpeechStatus, Transcript
from voice.core.engine_types import CallStarted, Transfer, UtteranceFinished, UtteranceUnreadable
from voice.runtime.driver import LocalDriver, PlayedItem
from voice.runtime.services import Services
from voice.stages.audio import join_wavs, wav_bytes


@dataclass
class TurnResult:
    transcript: Transcript | None
    answer: AnswerLike | None
    heard: list[PlayedItem]
    transferred: bool
    timings_ms: dict[str, float]

    @property
    def no_speech(self) -> bool:
        return self.transcript is None or self.transcript.no_speech

    def describe(self) -> str:
        lines = []
        t = self.transcript
        if t is None or t.status is SpeechStatus.UNREADABLE:
            lines.append("heard: unreadable audio")
        elif t.no_speech:
            lines.append(f"heard: no speech ({t.detail})")
        else:
            lines.append(f"heard [{t.language} {t.language_probability:.2f}]: {t.text}")
        if self.answer is not None:
            a = self.answer
            lines.append(f"topic: {a.topic or '- (hand over)'}  score {a.score:.3f}")
        lines.append("the caller hears:")
        lines.extend(f"  [{item.language}] {item.text}" for item in self.heard)
        if self.transferred:
            lines.append("then: transfer to a member of staff")
        lines.append("timings: " + ", ".join(f"{k} {v:.0f} ms" for k, v in self.timings_ms.items()))
        return "\n".join(lines)

    def as_json(self, file: str, out: str | None) -> dict[str, Any]:
        t, a = self.transcript, self.answer
        return {
            "file": file,
            "transcript": t.text if t else "",
            "status": t.status.value if t else SpeechStatus.UNREADABLE.value,
            "no_speech": self.no_speech,
            "language": t.language if t else None,
            "language_probability": round(t.language_probability, 3) if t else 0.0,
            "topic": a.topic if a else None,
            "handover": bool(a.handover) if a else False,
            "answer": a.text if a else "",
            "legal_basis": list(a.legal_basis) if a else [],
            "score": a.score if a else 0.0,
            "heard": [{"language": i.language, "text": i.text} for i in self.heard],
            "transferred": self.transferred,
            "latency_ms": self.timings_ms,
            "out": out,
        }


def run_single_turn(services: Services, clip: AudioClip | None, call_id: str = "cli") -> TurnResult:
    """Start a call, deliver one utterance (None: unreadable audio) and collect what is played back."""
    driver = LocalDriver(services, call_id=call_id, audio_format="pcm16k")
    driver.feed(CallStarted(call_id))
    greeting_plays = len(driver.plays)
    if clip is None:
        actions = driver.feed(UtteranceUnreadable("unreadable audio"))
        transcript = driver.state.transcript
    else:
        actions = driver.feed(UtteranceFinished(clip))
        transcript = driver.last_transcript
    heard = [item for _, items in driver.plays[greeting_plays:] for item in items]
    turn = driver.turns[-1] if driver.turns else None
    timings = dict(turn.timings_ms) if turn else {}
    return TurnResult(
        transcript,
        turn.answer if turn else None,
        heard,
        any(isinstance(a, Transfer) for a in actions),
        timings,
    )


def write_heard(result: TurnResult, path: Path, fmt: str) -> None:
    """Write everything the caller hears after the question as one WAV file."""
    audio = join_wavs([item.audio.data for item in result.heard if item.audio is not None])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_bytes(audio, fmt))
