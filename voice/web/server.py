"""The production web server: gunicorn, threads for webhooks and live Media Streams.

On its own a node keeps its calls in progress in the process (Twilio call registry, streaming sessions),
so there is one worker process; each WebSocket holds one thread for the length of its call, hence
``threads``. With Redis (``HOTLINE_REDIS_URL``) calls live there and ``HOTLINE_WORKERS`` processes may
share the port. The worker is gunicorn's threaded worker with one change (``voice/web/worker.py``): a
connection gets a thread only once its request has arrived, so slow or idle clients cannot take the
threads. SIGTERM drains the node (``voice.runtime.drain``) before the worker stops; the master's graceful
timeout leaves room for that. The application (and its models) is built inside each worker, after
gunicorn forks: thread pools of the speech models do not survive a fork.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class HotlineServer(BaseApplication):
    def __init__(self, make_app: Callable[[], Flask], host: str, port: int, threads: int = 64,
                 drain_s: float = 0.0, workers: int = 1) -> None:
        self.make_app = make_app
        self.options = {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "voice.web.worker.GatheringThreadWorker",  # gthread; threads only for whole requests
            "threads": threads,
            "timeout": 60,
            "graceful_timeout": int(drain_s) + 10,  # SIGTERM drains calls first (voice.runtime.drain)
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.make_app()


def serve(make_app: Callable[[], Flask], host: str, port: int, threads: int = 64, drain_s: float = 0.0,
          workers: int = 1) -> None:
    HotlineServer(make_app, host, port, threads, drain_s, workers).run()
