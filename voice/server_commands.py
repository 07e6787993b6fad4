"""The commands that serve calls or recognition: ``serve``, ``sip``, ``asr-worker``."""

from __future__ import annotations

import sys
from typing import Any

from voice.command_root import EXIT_CONFIG, EXIT_OK, composition
from voice.command_root import services as _services


def cmd_serve(args: Any, settings: Any) -> int:
    from voice.web.server import serve

    root = composition()
    host, port = args.host or settings.host, args.port or settings.port
    if problems := settings.node_problems():
        print("error: invalid configuration:\n  " + "\n  ".join(problems), file=sys.stderr)
        return EXIT_CONFIG

    def make_app() -> Any:  # runs in the gunicorn worker, after the fork: so does the SIP server
        app = root.create_app(settings)
        print(f"hotline listening on http://{host}:{port} (health: /healthz, QA: /dashboard/)", file=sys.stderr)
        if settings.sip_enabled or args.sip:
            server = root.start_sip(app)
            tls = f", TLS on {server.tls_port}" if server.tls_port else ""
            print(f"SIP on {settings.sip_host}:{server.port} (UDP and TCP{tls})", file=sys.stderr)
        return app

    if settings.workers > 1 and (settings.sip_enabled or args.sip):
        print("error: HOTLINE_WORKERS > 1 cannot answer SIP in the same server (one SIP port per process): "
              "run `python app.py sip` beside it", file=sys.stderr)
        return EXIT_CONFIG
    serve(make_app, host=host, port=port, drain_s=settings.drain_grace_s, workers=settings.workers)
    return EXIT_OK


def cmd_sip(args: Any, settings: Any) -> int:
    import dataclasses

    from voice.runtime.drain import Drain
    from voice.storage.factory import make_store
    from voice.transports.sip.server import SipServer

    overrides = {k: v for k, v in (("sip_host", args.host), ("sip_port", args.port)) if v}
    settings = dataclasses.replace(settings, **overrides)
    if problems := settings.node_problems():
        print("error: invalid configuration:\n  " + "\n  ".join(problems), file=sys.stderr)
        return EXIT_CONFIG
    services = _services(settings)
    store = make_store(settings)
    store.warm_up()
    services.warm_up()
    server = SipServer(services, store).start()
    tls = f", TLS on {server.tls_port}" if server.tls_port else ""
    print(f"hotline answering SIP on {settings.sip_host}:{server.port} (UDP and TCP{tls})", file=sys.stderr)
    _drain_on_sigterm(Drain(services.runtime, settings.drain_grace_s), server.stop)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return EXIT_OK


def cmd_asr_worker(args: Any, settings: Any) -> int:
    import dataclasses

    from voice.runtime.cluster.asr_worker import serve_forever

    if not settings.redis_url:
        print("error: asr-worker needs HOTLINE_REDIS_URL (the queue it serves)", file=sys.stderr)
        return EXIT_CONFIG
    services = _services(dataclasses.replace(settings, asr_queue=False))  # this process recognises itself
    return serve_forever(settings.redis_url, services.transcriber, args.metrics_port)


def _drain_on_sigterm(drain: Any, then: Any) -> None:
    """SIGTERM: drain (no new calls, calls in progress finish), then ``then`` (stop serving)."""
    import signal
    import threading

    def drain_then_stop() -> None:
        drain.run()
        then()

    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=drain_then_stop, daemon=True).start())
