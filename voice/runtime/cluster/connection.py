"""The Redis connection every cluster part uses: short timeouts and a few quick retries.

A Redis that is down must not hold a caller: each command gives up after ``timeout_s`` (after two quick
retries, urllib3-style backoff from redis-py), and the caller of the command turns the error into a
spoken fallback or a spooled write.
"""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

RedisError = redis.RedisError


def connect(url: str, timeout_s: float = 2.0, read_timeout_s: float | None = None) -> redis.Redis:
    """A client for ``url`` (``redis://host:port/db``); connects lazily, on the first command.
    ``read_timeout_s``: for a client whose commands block (BLPOP, XREADGROUP BLOCK) longer than ``timeout_s``."""
    return redis.Redis.from_url(
        url,
        socket_timeout=read_timeout_s or timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=0.4, base=0.05), 2),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )
