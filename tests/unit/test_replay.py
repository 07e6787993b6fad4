"""Call recording and replay on fake engines: stored calls, audio folders, scenarios, reports, verdicts."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipeline.content import load_content
from pipeline.result import FaqAnswer
from tests.fakes import FakeSynthesizer, said
from voice.commands import build_parser
from voice.core.domain import AudioClip, SpeechStatus, Transcript
from voice.core.engine_types import CallStarted, UtteranceFinished
from voice.core.languages import LANGUAGES
from voice.qa.replay.run import EXIT_REGRESSION, command
from voice.qa.replay.runner import ReplayOptions, replay_case
from voice.qa.replay.sources import Case, ScenarioError, TurnInput, scenario_cases
from voice.runtime.call_record import CallRecord
from voice.runtime.config import Settings
from voice.runtime.driver import LocalDriver
from voice.runtime.phrases import load_phrases
from voice.runtime.services import Services
from voice.stages.tts.cache import CachedSynthesizer
from voice.storage.store import SqlCallStore

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
EXTEND = "aufenthaltserlaubnis-verlaengern"

# the fake recogniser tells recordings apart by their loudness: what each "caller" says
SPOKEN = {
    0.3: said("Wie kann ich meinen Aufenthalt verlängern?"),
    0.5: said("Wie wird das Wetter morgen?"),
    0.1: said("This is the hotline speaking", "en"),  # the hotline's channel, and the fake voice
    # the same question, but recognition was unsure of its words (Whisper's mean log-probability)
    0.7: replace(said("Wie kann ich meinen Aufenthalt verlängern?"), avg_logprob=-0.8, no_speech_prob=0.05),
}


class LoudnessTranscriber:
    name = "fake-asr"

    def warm_up(self) -> None:
        pass

    def transcribe(self, audio: AudioClip, language: str | None = None) -> Transcript:
        peak = round(float(np.max(np.abs(audio.samples))), 1)
        return SPOKEN.get(peak, Transcript("", None, 0.0, audio.duration_s, SpeechStatus.NO_SPEECH, "silence"))


class KbAnswerer:
    """Answers from a tiny knowledge base (keyword -> topic, topic -> answer text) that tests edit."""

    def __init__(self, answers: dict[str, str], keywords: dict[str, str] | None = None,
                 shorts: dict[str, str] | None = None) -> None:
        self.answers = answers
        self.keywords = keywords if keywords is not None else {"verlängern": EXTEND}
        self.shorts = shorts or {}

    def warm_up(self) -> None:
        pass

    def answer(self, text: str, language: str | None = None) -> FaqAnswer:
        lang = language or "de"
        for word, topic in self.keywords.items():
            if word in text and topic in self.answers:
                return FaqAnswer(topic, False, lang, self.answers[topic], ["§ 81 AufenthG"], "2026-11-01", 0.95,
                                 short=self.shorts.get(topic, ""))
        return FaqAnswer(None, True, lang, "", [], "", 0.5, reason="low similarity")

    def answer_topic(self, topic: str, language: str) -> FaqAnswer:
        return FaqAnswer(topic, False, language, self.answers[topic], [], "2026-11-01", 1.0)


@pytest.fixture(scope="module")
def phrases():
    content = load_content(ROOT / "prompts/office.example.yaml", ROOT / "prompts/figures.yaml")
    return load_phrases(ROOT / "prompts/phrases", tuple(LANGUAGES), content)


def services(tmp_path: Path, phrases, answers: dict[str, str] | None = None, **settings: object) -> Services:
    s = Settings.from_env(
        {},
        prompts_dir=ROOT / "prompts",
        office_profile=ROOT / "prompts/office.example.yaml",
        data_dir=tmp_path / "data",
        **settings,
    )
    answerer = KbAnswerer(answers if answers is not None else {EXTEND: "Den Antrag stellen Sie vor Ablauf."})
    synth = CachedSynthesizer(FakeSynthesizer(), tmp_path / "tts-cache")
    return Services(s, LoudnessTranscriber(), answerer, synth, phrases)


def tone(peak: float, seconds: float = 1.0, rate: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (peak * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def write(path: Path, samples: np.ndarray, rate: int = 8000) -> Path:
    sf.write(path, samples, rate, subtype="PCM_16")
    return path


def replay(argv: list[str], svc: Services, capsys, store=None) -> tuple[int, list[dict], str]:
    args = build_parser().parse_args(["replay", "--no-progress", *argv])
    code = command(args, svc, store)
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines() if line.strip()]
    return code, lines, captured.err


@pytest.fixture
def folder(tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    write(calls / "a_question.wav", tone(0.3))
    (calls / "a_question.txt").write_text("Wie kann ich meinen Aufenthalt verlängern?")
    stereo = np.stack([tone(0.3), tone(0.1)], axis=1)  # Twilio: caller left, hotline right
    write(calls / "b_twilio_dual.wav", stereo)
    (calls / "c_broken.wav").write_bytes(b"RIFF\x00\x00not really audio")
    (calls / "notes.md").write_text("not audio, ignored")
    return calls


def test_an_audio_folder_is_replayed_and_unreadable_files_are_listed(tmp_path, phrases, folder, capsys):
    svc = services(tmp_path, phrases)
    code, lines, err = replay([str(folder), "--json", "--report", str(tmp_path / "report")], svc, capsys)
    assert code == 0
    assert [Path(line["file"]).name for line in lines] == ["a_question.wav", "b_twilio_dual.wav", "c_broken.wav"]
    first, dual, broken = lines
    assert first["topic"] == EXTEND and first["handover"] is False and first["language"] == "de"
    assert first["transcript"] == "Wie kann ich meinen Aufenthalt verlängern?" and first["wer"] == 0.0
    assert first["turn"] == 1 and first["latency_ms"]["total"] > 0
    assert {"asr", "retrieval", "tts"} <= set(first["latency_ms"])
    assert dual["transcript"] == first["transcript"]  # the caller's channel, not the hotline's
    assert broken["status"] == "unreadable" and "c_broken.wav" in broken["detail"]
    assert "skipped" in err and "c_broken.wav" in err and "verdict: PASS" in err
    report = json.loads((tmp_path / "report/report.json").read_text())
    assert report["metrics"]["replayed"] == 2 and report["metrics"]["wer"] == 0.0
    assert report["metrics"]["latency_ms"]["total"]["p95"] is not None
    assert len(report["skipped"]) == 1
    page = (tmp_path / "report/report.html").read_text()
    assert "<audio" in page and "PASS" in page and "c_broken.wav" in page
    assert (tmp_path / "report/audio/0001-answer.wav").read_bytes()[:4] == b"RIFF"
    assert (tmp_path / "report/audio/0001-caller.wav").is_file()


def test_only_unreadable_input_exits_with_the_unreadable_code(tmp_path, phrases, capsys):
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"\xff\xfb garbage")
    code, lines, err = replay([str(bad), "--json"], services(tmp_path, phrases), capsys)
    assert code == 4 and lines[0]["status"] == "unreadable" and "bad.mp3" in err


def scenario(tmp_path: Path, topic: str | None, contains: str = "verlängern") -> Path:
    write(tmp_path / "q.wav", tone(0.3))
    write(tmp_path / "weather.wav", tone(0.5))
    path = tmp_path / "scenario.yaml"
    path.write_text(
        f"""
name: extend-then-weather
turns:
  - audio: q.wav
    reference: Wie kann ich meinen Aufenthalt verlängern
    expect: {{topic: {topic or 'null'}, handover: false, language: de, transcript_contains: [{contains}],
              max_latency_ms: 60000}}
  - audio: weather.wav
    expect: {{topic: null, handover: true}}
  - digits: "#"
""",
        encoding="utf-8",
    )
    return path


def test_a_scenario_meets_its_expectations(tmp_path, phrases, capsys):
    code, lines, err = replay([str(scenario(tmp_path, EXTEND)), "--json"], services(tmp_path, phrases), capsys)
    rating_request = phrases.say("rating_request", "de")
    assert code == 0, err
    assert [line["scenario"] for line in lines] == ["extend-then-weather"] * 3
    assert lines[0]["passed"] is True and len(lines[0]["checks"]) == 5
    assert lines[1]["passed"] is True and lines[1]["handover"] is True
    assert lines[2]["input"] == "keys #" and [h["text"] for h in lines[2]["heard"]] == [rating_request]


def test_a_scenario_that_confirms_the_topic(tmp_path, phrases, capsys):
    write(tmp_path / "unsure.wav", tone(0.7))
    path = tmp_path / "confirm.yaml"
    path.write_text(
        """
name: unsure-then-confirmed
turns:
  - audio: unsure.wav
    expect: {outcome: confirm}
  - digits: "1"
    expect: {outcome: answer, topic: aufenthaltserlaubnis-verlaengern, handover: false}
""",
        encoding="utf-8",
    )
    code, lines, err = replay([str(path), "--json"], services(tmp_path, phrases), capsys)
    assert code == 0, err
    assert lines[0]["outcome"] == "confirm" and lines[0]["candidates"] == [EXTEND] and lines[0]["passed"]
    assert lines[0]["answered"] is False and lines[0]["topic"] is None
    assert lines[1]["outcome"] == "answer" and lines[1]["topic"] == EXTEND and lines[1]["passed"]
    assert "outcomes: 1 answer, 1 confirm, 0 repeat, 0 handover" in err


def test_a_failed_expectation_fails_the_run(tmp_path, phrases, capsys):
    path = scenario(tmp_path, "einbuergerung", contains="Wetter")
    code, lines, err = replay([str(path), "--json"], services(tmp_path, phrases), capsys)
    assert code == EXIT_REGRESSION and lines[0]["passed"] is False
    failed = {c["check"] for c in lines[0]["checks"] if not c["ok"]}
    assert failed == {"topic", "transcript_contains"}
    assert "verdict: FAIL" in err and "expected topic 'einbuergerung'" in err


def test_the_verdict_fails_when_accuracy_drops_against_the_baseline(tmp_path, phrases, capsys):
    path = scenario(tmp_path, EXTEND)
    baseline = tmp_path / "baseline.json"
    code, _, _ = replay([str(path), "--save-baseline", str(baseline)], services(tmp_path, phrases), capsys)
    assert code == 0 and json.loads(baseline.read_text())["metrics"]["topic_accuracy"] == 1.0
    code, _, err = replay([str(path), "--baseline", str(baseline)], services(tmp_path, phrases), capsys)
    assert code == 0 and "verdict: PASS (baseline" in err
    # the knowledge base loses the topic: the same calls are now handed over
    worse = services(tmp_path, phrases, answers={})
    code, _, err = replay([str(path), "--baseline", str(baseline), "--report", str(tmp_path / "r")], worse, capsys)
    assert code == EXIT_REGRESSION
    assert "topic_accuracy fell from 1.000 to 0.500" in err and "handover_rate rose" in err
    assert "extend-then-weather#1: met its expectations in the baseline, fails now" in err
    assert "FAIL" in (tmp_path / "r/report.html").read_text()


def test_slower_latency_is_a_warning_unless_strict(tmp_path, phrases, capsys):
    from voice.qa.replay.report import Tolerances, metrics, verdict
    from voice.qa.replay.runner import TurnOutcome

    def outcome(ms: float) -> TurnOutcome:
        return TurnOutcome("c", "file", 1, "f.wav", "ok", latency_ms={"total": ms, "asr": ms / 2})

    before, after = metrics([outcome(1000.0)]), metrics([outcome(2000.0)])
    v = verdict([outcome(2000.0)], after, {"metrics": before}, Tolerances(latency=0.5))
    assert v.ok and not v.regressions and any("total latency p95 rose" in w for w in v.warnings)
    strict = verdict([outcome(2000.0)], after, {"metrics": before}, Tolerances(latency=0.5, strict_latency=True))
    assert not strict.ok and any("total latency p95 rose" in r for r in strict.regressions)
    calm = verdict([outcome(1200.0)], metrics([outcome(1200.0)]), {"metrics": before})
    assert calm.ok and not calm.warnings


def recorded_call(tmp_path: Path, svc: Services) -> tuple[SqlCallStore, str]:
    """A call on the line with recording on: two questions, stored with their audio."""
    store = SqlCallStore(f"sqlite:///{tmp_path / 'calls.db'}", tmp_path / "spool.jsonl", b"k")
    store.warm_up()
    call_id = store.start_call("twilio", external_id="CA1")
    driver = LocalDriver(svc, call_id="CA1", audio_format="ulaw8k", record=CallRecord(store, call_id))
    driver.feed(CallStarted("CA1", office_open=False))
    driver.feed(UtteranceFinished(AudioClip(tone(0.3), 8000)))
    driver.feed(UtteranceFinished(AudioClip(tone(0.5), 8000)))
    store.end_call(call_id, "hangup", "de", driver.state.handovers)
    return store, call_id


def test_recorded_calls_keep_both_sides_and_hear_the_notice(tmp_path, phrases):
    svc = services(tmp_path, phrases, record_calls=True, record_answers=True)
    store, call_id = recorded_call(tmp_path, svc)
    call = store.get_call(call_id)
    assert call is not None
    first, second = call["turns"]
    assert first["answer_text"] == "Den Antrag stellen Sie vor Ablauf." and second["answer_text"] == ""
    for turn in (first, second):
        caller = Path(turn["audio_path"])
        assert caller.is_relative_to(tmp_path / "data/recordings") and caller.name.endswith("-caller.wav")
        assert sf.info(caller).samplerate == 8000
        assert Path(turn["answer_audio_path"]).read_bytes()[:4] == b"RIFF"
    notice = phrases.say("recording_notice", "de")
    assert notice in [text for text, _ in svc.synthesizer.inner.calls]  # type: ignore[attr-defined]


def test_without_recording_nothing_is_kept(tmp_path, phrases):
    store, call_id = recorded_call(tmp_path, services(tmp_path, phrases))
    call = store.get_call(call_id)
    assert call is not None and all(t["audio_path"] is None for t in call["turns"])
    assert not (tmp_path / "data/recordings").exists()


def test_a_stored_call_replays_and_a_changed_answer_is_detected(tmp_path, phrases, capsys):
    store, call_id = recorded_call(tmp_path, services(tmp_path, phrases, record_calls=True))
    same = services(tmp_path, phrases)
    code, lines, err = replay(["--call", call_id, "--json"], same, capsys, store)
    assert code == 0, err
    assert [(line["call_id"], line["turn"]) for line in lines] == [(call_id, 1), (call_id, 2)]
    assert not any(line["compare"]["answer_changed"] or line["compare"]["topic_changed"] for line in lines)
    assert lines[0]["compare"]["transcript_changed"] is False and lines[0]["compare"]["transcript_wer"] == 0.0
    # an editor rewrites the answer in the knowledge base; the call is replayed by its date
    edited = services(tmp_path, phrases, answers={EXTEND: "Stellen Sie den Antrag acht Wochen vor Ablauf."})
    code, lines, err = replay(["--since", "2000-01-01", "--json"], edited, capsys, store)
    assert code == 0
    first, second = (line["compare"] for line in lines)
    assert first["answer_changed"] is True and first["topic_changed"] is False
    assert first["answer_then"] == "Den Antrag stellen Sie vor Ablauf."
    assert second["answer_changed"] is False and second["handover_then"] is True
    assert "since recorded: 1 answers, 0 topics, 0 transcripts changed (of 2 turns)" in err


def test_a_turn_without_a_kept_recording_is_listed_not_replayed(tmp_path, phrases, capsys):
    svc = services(tmp_path, phrases, record_calls=True)
    store, call_id = recorded_call(tmp_path, svc)
    for turn in store.get_call(call_id)["turns"]:  # type: ignore[index]
        Path(turn["audio_path"]).unlink()
    code, lines, err = replay(["--call", call_id, "--call", "no-such-call", "--json"], svc, capsys, store)
    assert code == 4 and {line["status"] for line in lines} == {"unreadable"}
    assert "no stored call no-such-call" in err


def test_realtime_paces_the_caller_and_the_answer(tmp_path, phrases):
    write(tmp_path / "q.wav", tone(0.3, seconds=2.0))
    waits: list[float] = []
    case = Case("q", "file", [TurnInput(audio=tmp_path / "q.wav")])
    replay_case(services(tmp_path, phrases), case, ReplayOptions(realtime=True), sleep=waits.append)
    assert waits[0] == pytest.approx(2.0) and waits[1] > 0  # the question, then the answer being heard


def test_roundtrip_catches_a_voice_that_says_something_else(tmp_path, phrases):
    write(tmp_path / "q.wav", tone(0.3))
    case = Case("q", "file", [TurnInput(audio=tmp_path / "q.wav")])
    [outcome] = replay_case(services(tmp_path, phrases), case, ReplayOptions(roundtrip=True))
    # the fake voice is a quiet tone, which the fake recogniser hears as English: wrong language, wrong words
    assert outcome.roundtrip is not None and outcome.roundtrip["ok"] is False
    assert outcome.roundtrip["heard_language"] == "en" and outcome.roundtrip["wer"] == 1.0


def test_malformed_scenarios_are_content_errors(tmp_path):
    bad = tmp_path / "s.yaml"
    bad.write_text("turns:\n  - audio: a.wav\n    digits: '1'\n")
    with pytest.raises(ScenarioError, match="exactly one of"):
        scenario_cases(bad)
    bad.write_text("turns:\n  - audio: a.wav\n    expect: {topik: x}\n")
    with pytest.raises(ScenarioError, match="topik"):
        scenario_cases(bad)


def test_join_wavs_keeps_every_piece(tmp_path):
    from voice.stages.audio import join_wavs

    buf = io.BytesIO()
    sf.write(buf, tone(0.2), 8000, format="WAV", subtype="PCM_16")
    joined = join_wavs([buf.getvalue(), buf.getvalue()], rate=8000, pause_s=0.5)
    assert joined.duration_s == pytest.approx(3.0, abs=0.01)


def test_a_scenario_reports_the_keys_pressed_after_a_short_answer(tmp_path, phrases, capsys):
    write(tmp_path / "q.wav", tone(0.3))
    path = tmp_path / "details.yaml"
    path.write_text("name: short-then-details\nturns:\n  - audio: q.wav\n  - digits: '3'\n  - digits: '1'\n",
                    encoding="utf-8")
    svc = services(tmp_path, phrases)
    svc.answerer = KbAnswerer({EXTEND: "Den Antrag stellen Sie vor Ablauf. Bringen Sie den Pass mit."},
                              shorts={EXTEND: "Vor Ablauf beantragen."})
    code, lines, err = replay([str(path), "--json"], svc, capsys)
    assert code == 0, err
    assert [line["followups"] for line in lines] == [[], ["repeat"], ["details"]]
    assert [h["text"] for h in lines[1]["heard"]][0] == "Vor Ablauf beantragen."  # the short answer again
    assert [h["text"] for h in lines[2]["heard"]][0].endswith("Bringen Sie den Pass mit.")  # the details
