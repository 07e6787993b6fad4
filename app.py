"""Composition root of the hotline: builds the engines, the web app and the command line.

python app.py serve | sip | ask | transcribe | answer-audio | prerender | eval | faq check | users   (--help on each)
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from voice.runtime.config import Settings  # noqa: E402
from voice.runtime.services import Services  # noqa: E402

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger("hotline")


def create_services(settings: Settings) -> Services:
    """Construct the real engines (cheap: models load in ``Services.warm_up``)."""
    from pipeline.answerer import FaqAnswerer, RetrievalOptions
    from pipeline.content import load_content
    from voice.core.languages import LANGUAGES
    from voice.runtime.phrases import load_phrases
    from voice.runtime.recognition import ScheduledTranscriber
    from voice.runtime.runtime import AdmissionPolicy, Runtime
    from voice.runtime.scheduler import Scheduler
    from voice.runtime.texting import make_texter
    from voice.runtime.tts_factory import make_synthesizer
    from voice.stages.asr.whisper import DEFAULT_VOCABULARY, WhisperOptions, WhisperTranscriber
    from voice.stages.tts.cache import CachedSynthesizer

    transcriber: Any = WhisperTranscriber(
        WhisperOptions(
            model=settings.whisper_model,
            device=settings.whisper_device,
            compute_type=settings.whisper_compute_type,
            cpu_threads=settings.whisper_threads,
            workers=settings.recognition_slots,
            beam_size=settings.whisper_beam_size,
            max_new_tokens=settings.whisper_max_new_tokens,
            vocabulary=DEFAULT_VOCABULARY if settings.whisper_vocabulary else "",
        ),
        model_dir=settings.model_dir,
    )
    if settings.asr_queue:  # recognition on workers (`app.py asr-worker`); this node loads no Whisper
        from voice.runtime.cluster.asr_queue import QueuedTranscriber
        from voice.runtime.cluster.connection import connect

        client = connect(settings.redis_url, read_timeout_s=settings.asr_deadline_s + 5)
        transcriber = QueuedTranscriber(client, settings.asr_deadline_s)
    answerer = FaqAnswerer(
        RetrievalOptions(
            prompts_dir=settings.prompts_dir,
            office_profile=settings.office_profile,
            cache_dir=settings.cache_dir,
            min_margin=settings.gate_min_margin,
            min_similarity=settings.gate_min_similarity,
            max_out_of_scope=settings.gate_max_out_of_scope,
            out_of_scope_gap=settings.gate_out_of_scope_gap,
            confirm_min_score=settings.gate_confirm_min_score,
            confirm_min_similarity=settings.gate_confirm_min_similarity,
            gate_model=settings.gate_model,
        )
    )
    synthesizer = CachedSynthesizer(make_synthesizer(settings), settings.audio_cache_dir)
    content = load_content(settings.office_profile, settings.prompts_dir / "figures.yaml")
    phrases = load_phrases(settings.prompts_dir / "phrases", tuple(LANGUAGES), content)
    runtime = Runtime(
        Scheduler(slots=settings.asr_slots or (16 if settings.asr_queue else settings.recognition_slots)),
        AdmissionPolicy(wait_budget_s=settings.admission_wait_s, max_calls=settings.max_calls,
                        questions_per_min=settings.questions_per_min),
    )
    recogniser = ScheduledTranscriber(transcriber, runtime.scheduler)
    texter = None
    if settings.sms_from:
        from voice.storage.factory import hash_key

        texter = make_texter(settings, answerer, phrases, hash_key(settings))
    return Services(settings, recogniser, answerer, synthesizer, phrases, runtime, texter)


def create_app(
    settings: Settings | None = None, services: Services | None = None, warm: bool = True, store: Any = None
) -> Flask:
    """The web application. Tests pass fakes through ``services``; ``warm`` loads models at start."""
    import hashlib
    import hmac

    from flask import Flask

    from voice.runtime.drain import Drain
    from voice.storage.factory import hash_key, make_store, session_key
    from voice.transports.twilio import callbacks, media_stream, media_webhooks
    from voice.transports.twilio import webhooks as twilio
    from voice.transports.twilio.registry import CallRegistry
    from voice.transports.twilio.stream_calls import StreamCalls
    from voice.web import audio, dashboard, health
    from voice.web.worker import MAX_BODY_BYTES

    settings = settings or Settings.from_env()
    services = services or create_services(settings)
    store = store or make_store(settings)
    store.warm_up()
    if warm:
        services.warm_up()
        if settings.twilio_media == "stream":
            from voice.runtime.stream.vad import SileroModel

            SileroModel.shared()  # loading the VAD holds the interpreter ~1 s: not in the first call's start
    app = Flask(__name__)
    app.extensions["hotline"] = services
    app.extensions["hotline_store"] = store
    app.extensions["hotline_calls"] = CallRegistry()
    app.extensions["hotline_drain"] = Drain(services.runtime, settings.drain_grace_s)
    app.extensions["hotline_url_secret"] = hmac.new(hash_key(settings), b"audio-urls", hashlib.sha256).digest()
    stream_secret = hmac.new(hash_key(settings), b"media-streams", hashlib.sha256).digest()
    app.extensions["hotline_streams"] = StreamCalls(stream_secret)
    if settings.redis_url:
        _join_cluster(app, settings, services, store)
    app.config["SOCK_SERVER_OPTIONS"] = {"max_message_size": media_stream.MAX_MESSAGE_BYTES, "ping_interval": 25}
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES  # webhooks and dashboard forms are small: 413 beyond
    app.register_blueprint(health.bp)
    app.register_blueprint(audio.bp)
    app.register_blueprint(twilio.bp)
    app.register_blueprint(callbacks.bp)
    app.register_blueprint(media_webhooks.bp)
    app.register_blueprint(media_stream.bp)
    dashboard.init_app(app, settings, services, store, session_key(settings))
    return app


def _join_cluster(app: Flask, settings: Settings, services: Services, store: Any) -> None:
    """Several nodes (``HOTLINE_REDIS_URL``): webhook calls, audio recipes, the node registry and the
    hand-over of Media Streams in Redis; draining leaves the registry and lets webhook calls move."""
    import os
    import socket

    from voice.runtime.cluster.audio_recipes import RedisRecipes
    from voice.runtime.cluster.call_states import SharedCallStates
    from voice.runtime.cluster.connection import connect
    from voice.runtime.cluster.nodes import NodeRegistry
    from voice.runtime.cluster.stream_directory import StreamDirectory
    from voice.runtime.drain import Drain
    from voice.transports.twilio.shared_calls import SharedCallBook

    client = connect(settings.redis_url)
    services.synthesizer.recipes = RedisRecipes(client, settings.audio_url_ttl_s)
    book = SharedCallBook(SharedCallStates(client), services, store)
    app.extensions["hotline_calls"] = book
    app.extensions["hotline_streams"].directory = StreamDirectory(client)
    url = settings.node_url or settings.public_base_url
    nodes = NodeRegistry(client, f"{url}#{socket.gethostname()}-{os.getpid()}", url, services.runtime).start()
    app.extensions["hotline_nodes"] = nodes
    app.extensions["hotline_drain"] = Drain(services.runtime, settings.drain_grace_s, moving=("twilio",),
                                            on_start=(nodes.leave, book.release_all))


def start_sip(app: Flask) -> Any:
    """Answer SIP calls in this process too, with the app's engines and store (``serve --sip``)."""
    from voice.transports.sip.server import SipServer

    server = SipServer(app.extensions["hotline"], app.extensions["hotline_store"]).start()
    app.extensions["hotline_sip"] = server
    return server


def configure_logging(level: str) -> None:
    """Log to stderr (stdout is reserved for command output such as JSON)."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("haystack", "httpx", "faster_whisper", "TTS", "trainer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    from voice.commands import Composition, build_parser, run_command

    parser = build_parser()
    args: Any = parser.parse_args(argv)
    return run_command(args, parser, Composition(create_services, create_app, start_sip, configure_logging))


if __name__ == "__main__":
    sys.exit(main())
