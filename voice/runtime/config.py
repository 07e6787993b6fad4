"""Settings, read in one place: environment variables with the ``HOTLINE_`` prefix.

Every setting has a default that runs the hotline offline on this repository's bundled models.
``Settings.from_env`` validates everything at once and reports all problems in one message.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from pipeline.gate_defaults import CALIBRATED


class ConfigError(ValueError):
    """One or more settings are invalid; the message names each variable and how to fix it."""


@dataclass(frozen=True)
class Settings:
    """All settings of the hotline (environment variable = ``HOTLINE_`` + upper-case name)."""

    prompts_dir: Path = Path("prompts")
    office_profile: Path = Path("prompts/office.example.yaml")
    audio_cache_dir: Path = Path("audio_cache")
    data_dir: Path = Path("var")
    whisper_model: str = "base"
    whisper_device: str = "cpu"
    whisper_compute_type: str = "int8"
    whisper_threads: int = 0
    whisper_beam_size: int = 1
    whisper_max_new_tokens: int = 128
    whisper_vocabulary: bool = True
    asr_slots: int = 0  # recognitions at once (the scheduler's slots); 0: one per core, at most 4 (measured)
    max_calls: int = 40  # calls in progress per process, all transports; more are refused as busy
    admission_wait_s: float = 2.0  # refuse a new call when a question would wait longer for recognition
    questions_per_min: float = 2.0  # a call's question rate assumed until calls in progress are measured
    tts_engine: str = "espeak"  # engine chain, e.g. "coqui" (= coqui, then espeak)
    tts_language_engines: str = ""  # per-language chains, e.g. "zh=espeak,ps=coqui"
    tts_rate_wpm: int = 150
    coqui_voices: str = ""  # LANG=MODEL[#SPEAKER],…; empty: the documented default voices
    coqui_models_dir: Path = Path("")  # empty: <data_dir>/coqui
    coqui_device: str = "auto"
    coqui_download: bool = False
    gate: str = "model"  # "model": the learned gate (pipeline/gate_model.json), "rule": the thresholds below, or a file
    gate_min_margin: float = CALIBRATED.min_margin
    gate_min_similarity: float = CALIBRATED.min_similarity
    gate_max_out_of_scope: float = CALIBRATED.max_out_of_scope
    gate_out_of_scope_gap: float = CALIBRATED.out_of_scope_gap
    gate_confirm_min_score: float = CALIBRATED.confirm_min_score  # below "sure" but probable: the caller confirms
    gate_confirm_min_similarity: float = CALIBRATED.confirm_min_similarity
    asr_unsure_logprob: float = -0.45  # recognition less sure than this (mean token log-probability): confirm
    asr_garbled_logprob: float = -0.9  # this unsure: the caller is asked to repeat, nothing is answered
    asr_max_no_speech: float = 0.3  # Whisper's no-speech probability above which a transcript counts as unsure
    max_turns: int = 3
    language_confirm_below: float = 0.6
    record_calls: bool = False  # keep each question's audio (callers hear the recording notice first)
    record_answers: bool = False  # also keep the hotline's spoken answer of each turn (needs record_calls)
    database_url: str = ""  # empty: SQLite file in the data directory
    caller_hash_key: str = ""  # secret for hashing caller numbers; empty: a random key kept in the data directory
    public_base_url: str = ""  # how Twilio reaches this server (https://…); empty: the request's own URL
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""  # secret: validates webhook signatures and fetches recordings
    audio_url_ttl_s: int = 3600
    webhook_budget_s: float = 10.0  # longer work plays "one moment" and continues by redirect
    recording_fetch_tries: int = 5
    recording_hosts: str = "*.twilio.com"  # where recordings may come from (https; "http://HOST" allows plain HTTP)
    twilio_media: str = "record"  # "record": record-and-answer turns; "stream": real-time Media Streams
    sms_from: str = ""  # the sender of the written answer by SMS (a Twilio number); empty: SMS is not offered
    sms_regions: str = "DE"  # countries whose mobile numbers may get an SMS (ISO codes, comma-separated)
    sms_per_day: int = 3  # messages per caller and day (counted by keyed hash)
    sms_api_url: str = ""  # another address for Twilio's REST API (a test double); empty: Twilio's own
    vad_threshold: float = 0.5  # streaming endpointer: Silero speech probability that counts as speech
    vad_min_speech_ms: int = 160  # voiced time before speech interrupts a prompt or counts as a question
    vad_trailing_silence_ms: int = 500  # silence that ends the caller's question
    vad_speculate_ms: int = 50  # silence after which recognition starts early (0: off)
    no_input_s: float = 8.0  # silence after a prompt before the caller is asked again
    sip_enabled: bool = False  # `serve` also answers SIP calls (or run `python app.py sip` on its own)
    sip_host: str = "127.0.0.1"  # SIP bind address (0.0.0.0: all interfaces)
    sip_port: int = 5060  # UDP and TCP
    sip_tls_port: int = -1  # SIP over TLS (5061 is usual; 0: any free port; -1: off); needs the two below
    sip_tls_cert: str = ""  # PEM certificate chain for TLS
    sip_tls_key: str = ""  # PEM private key for TLS
    sip_srtp: str = "optional"  # SRTP (SDES keys): "optional" as offered, "required" (plain RTP gets 488), "off"
    sip_public_address: str = ""  # address put in SDP and Contact (behind NAT); empty: the local address
    sip_rtp_ports: str = "20000-20999"
    sip_allow: str = "127.0.0.1/32"  # peers allowed to call: addresses or networks, comma-separated
    sip_username: str = ""  # with a password: INVITEs must authenticate (digest)
    sip_password: str = ""
    sip_realm: str = "hotline"
    sip_max_calls: int = 20
    sip_max_message_bytes: int = 16384
    sip_ring_ms: int = 300  # ringing before the hotline answers
    sip_trusted_pbx: bool = False  # the PBX asserts the caller's number (P-Asserted-Identity): SMS may go to it
    sip_transfer_uri: str = ""  # REFER target for a person; empty: sip:<transfer_number>@<the calling PBX>
    dashboard_secret_key: str = ""  # signs dashboard sessions; empty: a random key kept in the data directory
    dashboard_secure_cookies: bool = True  # session cookie over HTTPS only (off only for a plain-HTTP test setup)
    dashboard_session_hours: int = 8  # a dashboard login lasts this long
    dashboard_max_concurrent: int = 4  # dashboard requests served at once; more get 503 (0: no limit)
    redis_url: str = ""  # nodes share call state, node registry and recognition work here; empty: one process
    node_url: str = ""  # this node's own public address (Media Streams connect to it); empty: the public base URL
    workers: int = 1  # web server processes; more than one needs HOTLINE_REDIS_URL (calls shared there)
    drain_grace_s: float = 600.0  # on SIGTERM: how long calls in progress may take to finish before the node exits
    asr_queue: bool = False  # questions go to recognition workers (`app.py asr-worker`) over Redis
    asr_deadline_s: float = 20.0  # a queued question not recognised by then is given up (the caller is asked again)
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"

    @property
    def gate_model(self) -> Path | None:
        """The learned gate's model file, or None for the threshold rule."""
        from pipeline.gate_model import DEFAULT_MODEL

        return None if self.gate == "rule" else DEFAULT_MODEL if self.gate == "model" else Path(self.gate)

    @property
    def model_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def recognition_slots(self) -> int:
        """Recognitions at once: ``asr_slots``, or one per core (at most 4) when it is 0."""
        return self.asr_slots or max(1, min(4, os.cpu_count() or 1))

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hotline.db'}"

    def __repr__(self) -> str:  # never print secrets (the database URL or SIP password)
        return f"Settings(prompts_dir={str(self.prompts_dir)!r}, data_dir={str(self.data_dir)!r}, ...)"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``env`` (default ``os.environ``) and explicit overrides.

        Raises:
            ConfigError: Listing every invalid variable.
        """
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        problems: list[str] = []
        for f in fields(cls):
            var = f"HOTLINE_{f.name.upper()}"
            if f.name in overrides:
                values[f.name] = overrides[f.name]
                continue
            if var not in env:
                continue
            raw = env[var]
            try:
                values[f.name] = _convert(raw, type(getattr(cls, f.name)))
            except ValueError:
                problems.append(f"{var}={raw!r}: expected {type(getattr(cls, f.name)).__name__}")
        settings = cls(**values)  # type: ignore[arg-type]
        problems.extend(settings.problems())
        if problems:
            raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
        return settings

    def problems(self) -> list[str]:
        """Semantic checks of the values."""
        out = []
        out.extend(self._tts_problems())
        if not (self.prompts_dir / "faq").is_dir():
            out.append(f"HOTLINE_PROMPTS_DIR={str(self.prompts_dir)!r}: no faq/ folder there")
        if not self.office_profile.is_file():
            out.append(f"HOTLINE_OFFICE_PROFILE={str(self.office_profile)!r}: file not found")
        if not 0 < self.max_turns <= 20:
            out.append(f"HOTLINE_MAX_TURNS={self.max_turns}: expected 1..20")
        if self.gate not in ("model", "rule") and not Path(self.gate).is_file():
            out.append(f"HOTLINE_GATE={self.gate!r}: expected 'model', 'rule' or the path of a gate model file")
        if self.asr_garbled_logprob > self.asr_unsure_logprob or not 0.0 <= self.asr_max_no_speech <= 1.0:
            out.append(
                "HOTLINE_ASR_GARBLED_LOGPROB must be <= HOTLINE_ASR_UNSURE_LOGPROB, HOTLINE_ASR_MAX_NO_SPEECH in 0..1"
            )
        if not 0.0 <= self.language_confirm_below <= 1.0:
            out.append(f"HOTLINE_LANGUAGE_CONFIRM_BELOW={self.language_confirm_below}: expected 0..1")
        if self.sms_from and not (self.twilio_account_sid and self.twilio_auth_token):
            out.append("HOTLINE_SMS_FROM needs HOTLINE_TWILIO_ACCOUNT_SID and HOTLINE_TWILIO_AUTH_TOKEN")
        if self.sms_per_day < 1:
            out.append("HOTLINE_SMS_PER_DAY must be >= 1")
        if self.twilio_media not in ("record", "stream"):
            out.append(f"HOTLINE_TWILIO_MEDIA={self.twilio_media!r}: expected 'record' or 'stream'")
        if not 0.0 < self.vad_threshold < 1.0 or self.vad_min_speech_ms < 0 or self.vad_trailing_silence_ms < 100:
            out.append(
                "HOTLINE_VAD_THRESHOLD must be in (0, 1), HOTLINE_VAD_MIN_SPEECH_MS >= 0 and "
                "HOTLINE_VAD_TRAILING_SILENCE_MS >= 100"
            )
        out.extend(self._sip_problems())
        if self.asr_slots < 0 or self.max_calls < 1 or self.admission_wait_s <= 0 or self.questions_per_min <= 0:
            out.append("HOTLINE_ASR_SLOTS must be >= 0, HOTLINE_MAX_CALLS >= 1, HOTLINE_ADMISSION_WAIT_S > 0, "
                       "HOTLINE_QUESTIONS_PER_MIN > 0")
        if self.dashboard_max_concurrent < 0:
            out.append(f"HOTLINE_DASHBOARD_MAX_CONCURRENT={self.dashboard_max_concurrent}: expected 0 or more")
        if not 0 < self.dashboard_session_hours <= 24 * 30:
            out.append(f"HOTLINE_DASHBOARD_SESSION_HOURS={self.dashboard_session_hours}: expected 1..720")
        if self.whisper_beam_size < 1 or self.whisper_max_new_tokens < 8:
            out.append("HOTLINE_WHISPER_BEAM_SIZE must be >= 1 and HOTLINE_WHISPER_MAX_NEW_TOKENS >= 8")
        return out

    def sip_rtp_range(self) -> tuple[int, int]:
        low, _, high = self.sip_rtp_ports.partition("-")
        return int(low), int(high)

    def sip_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(p.strip(), strict=False) for p in self.sip_allow.split(",") if p.strip()]

    def _sip_problems(self) -> list[str]:
        out = []
        try:
            low, high = self.sip_rtp_range()
            if not 1024 <= low < high <= 65535:
                raise ValueError
        except ValueError:
            out.append(f"HOTLINE_SIP_RTP_PORTS={self.sip_rtp_ports!r}: expected LOW-HIGH within 1024-65535")
        try:
            self.sip_networks()
        except ValueError as exc:
            out.append(f"HOTLINE_SIP_ALLOW={self.sip_allow!r}: {exc}")
        if bool(self.sip_username) != bool(self.sip_password):
            out.append("HOTLINE_SIP_USERNAME and HOTLINE_SIP_PASSWORD: set both (digest authentication) or neither")
        if self.sip_tls_port >= 0:
            missing = [f"HOTLINE_SIP_TLS_{n.upper()}={v!r}" for n, v in (("cert", self.sip_tls_cert),
                                                                    ("key", self.sip_tls_key)) if not Path(v).is_file()]
            if missing or self.sip_tls_port > 65535:
                out.append(f"HOTLINE_SIP_TLS_PORT={self.sip_tls_port} needs a port and readable PEM files: "
                           + (", ".join(missing) or "port out of range"))
        if not 0 < self.sip_port <= 65535 or self.sip_max_calls < 1 or self.sip_max_message_bytes < 1500:
            out.append(
                "HOTLINE_SIP_PORT must be a port, HOTLINE_SIP_MAX_CALLS >= 1, HOTLINE_SIP_MAX_MESSAGE_BYTES >= 1500"
            )
        if self.sip_srtp not in ("off", "optional", "required"):
            out.append(f"HOTLINE_SIP_SRTP={self.sip_srtp!r}: expected off, optional or required")
        return out

    def node_problems(self) -> list[str]:
        """What a node that takes calls needs beyond ``problems`` when it is one of several (checked by
        ``serve`` and ``sip`` before they start; a recognition worker needs only Redis)."""
        if not self.redis_url:
            out = ["HOTLINE_ASR_QUEUE needs HOTLINE_REDIS_URL (the queue lives in Redis)"] if self.asr_queue else []
            if self.workers != 1:
                out.append("HOTLINE_WORKERS > 1 needs HOTLINE_REDIS_URL (the processes share calls there)")
            return out
        out = []
        if not self.effective_database_url.startswith("postgresql"):
            out.append("HOTLINE_REDIS_URL (several nodes) needs PostgreSQL: set HOTLINE_DATABASE_URL=postgresql://… "
                       "(an SQLite file belongs to one machine)")
        if not self.caller_hash_key:
            out.append("HOTLINE_REDIS_URL (several nodes) needs HOTLINE_CALLER_HASH_KEY: every node must hash numbers "
                       "and sign audio URLs with the same secret")
        if not self.public_base_url:
            out.append("HOTLINE_REDIS_URL (several nodes) needs HOTLINE_PUBLIC_BASE_URL: the address Twilio calls "
                       "(the load balancer), which webhook signatures are checked against")
        if self.drain_grace_s < 0 or self.asr_deadline_s <= 0 or not 1 <= self.workers <= 64:
            out.append("HOTLINE_DRAIN_GRACE_S must be >= 0, HOTLINE_ASR_DEADLINE_S > 0, HOTLINE_WORKERS 1..64")
        return out

    def _tts_problems(self) -> list[str]:
        from voice.stages.tts.coqui import parse_voice_map
        from voice.stages.tts.engines import parse_engines, parse_language_engines

        out = []
        for var, value, parse in (
            ("HOTLINE_TTS_ENGINE", self.tts_engine, parse_engines),
            ("HOTLINE_TTS_LANGUAGE_ENGINES", self.tts_language_engines, parse_language_engines),
            ("HOTLINE_COQUI_VOICES", self.coqui_voices, parse_voice_map),
        ):
            try:
                parse(value)
            except ValueError as exc:
                out.append(f"{var}={value!r}: {exc}")
        if self.coqui_device not in ("auto", "cpu", "cuda") and not self.coqui_device.startswith("cuda:"):
            out.append(f"HOTLINE_COQUI_DEVICE={self.coqui_device!r}: expected auto, cpu or cuda")
        return out


def _convert(raw: str, kind: type) -> object:
    if kind is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(raw)
    if kind is Path:
        return Path(raw)
    return kind(raw)
