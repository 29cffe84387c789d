"""Counting events per time window, shared between processes when Redis is there.

`wait_time(key, limit, window)` counts one event under `key` and says how long to wait before it
may happen: 0 while the window has room. The count lives in Redis (`TIEPDAN_REDIS_URL`, or the
broker when it is Redis), so every worker and replica shares it; without Redis each process
counts for itself, which is right for the embedded mode's single worker.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache
from typing import Any

from core.settings import get_settings

logger = logging.getLogger(__name__)

_local_lock = threading.Lock()
_local_counts: dict[str, int] = {}


@lru_cache
def _redis() -> Any:
    url = get_settings().redis_url
    if not url:
        return None
    import redis

    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def forget() -> None:
    """Drop the process's connection and counts (tests, settings changes)."""
    _redis.cache_clear()
    with _local_lock:
        _local_counts.clear()


def wait_time(key: str, *, limit: int, window: float) -> float:
    """Count one event for `key`; the seconds to wait first (0 when within `limit` per window).

    A refused event is not counted: the caller waits and asks again.
    """
    now = time.time()
    slot = int(now // window)
    slot_key = f"tiepdan:rate:{key}:{slot}"
    count = _count(slot_key, window)
    if count <= limit:
        return 0.0
    _uncount(slot_key)
    return (slot + 1) * window - now


def _count(slot_key: str, window: float) -> int:
    client = _redis()
    if client is not None:
        try:
            pipe = client.pipeline()
            pipe.incr(slot_key)
            pipe.pexpire(slot_key, int(window * 2000))
            return int(pipe.execute()[0])
        except Exception:  # a counter must not stop delivery: count locally meanwhile
            logger.warning("rate counter: Redis unreachable, counting in this process")
    with _local_lock:
        if len(_local_counts) > 10_000:
            _local_counts.clear()
        _local_counts[slot_key] = _local_counts.get(slot_key, 0) + 1
        return _local_counts[slot_key]


def _uncount(slot_key: str) -> None:
    client = _redis()
    if client is not None:
        try:
            client.decr(slot_key)
            return
        except Exception:
            pass
    with _local_lock:
        if slot_key in _local_counts:
            _local_counts[slot_key] -= 1
