"""Counting events per time window, shared between processes when Redis is there.

Two uses: the channels' send rates (`wait_time`: how long to wait before sending), and the
limits and quotas that keep one sender from flooding the platform (`enforce`: a 429 with a
Retry-After when over). A limit is a setting written as "<amount>/<period>": "20/minute",
"5/hour", "50MB/day"; empty or "off" turns it off.

The counts live in Redis (`TIEPDAN_REDIS_URL`, or the broker when it is Redis), so every worker
and replica shares them. Without Redis each process counts for itself, which is right for the
embedded mode (one API process, one worker). A window is fixed (this minute, this hour), so a
burst across its edge may get up to twice the amount: simple, and enough against floods.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache
from typing import Any

from core.errors import TooMany
from core.rates import parse_rate
from core.settings import get_settings

logger = logging.getLogger(__name__)


def enforce(key: str, rate: str, *, message: str, amount: int = 1) -> None:
    """Count `amount` under `key` against the limit `rate`; TooMany when it would go over.

    `message` may say when to come back: {seconds} and {minutes} are filled in.
    """
    limit = parse_rate(rate)
    if limit is None:
        return
    wait = wait_time(key, limit=limit.amount, window=limit.seconds, amount=amount)
    if wait > 0:
        seconds = int(wait + 0.999)
        minutes = max(1, round(wait / 60))
        raise TooMany(message.format(seconds=seconds, minutes=minutes), retry_after=wait)


def wait_time(key: str, *, limit: int, window: float, amount: int = 1) -> float:
    """Count `amount` for `key`; the seconds to wait first (0 while the window has room).

    A refused event is not counted: the caller waits and asks again.
    """
    now = time.time()
    slot = int(now // window)
    slot_key = f"tiepdan:rate:{key}:{slot}"
    count = _count(slot_key, window, amount)
    if count <= limit:
        return 0.0
    _count(slot_key, window, -amount)
    return (slot + 1) * window - now


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


def _count(slot_key: str, window: float, amount: int) -> int:
    client = _redis()
    if client is not None:
        try:
            pipe = client.pipeline()
            pipe.incrby(slot_key, amount)
            pipe.pexpire(slot_key, int(window * 2000))
            return int(pipe.execute()[0])
        except Exception:  # a counter must not stop the platform: count locally meanwhile
            logger.warning("rate counter: Redis unreachable, counting in this process")
    return _count_locally(slot_key, window, amount)


# --- In this process, without Redis ----------------------------------------------------------

_local_lock = threading.Lock()
_local_counts: dict[str, tuple[int, float]] = {}  # slot key -> (count, when it can be dropped)
_LOCAL_KEYS = 100_000


def _count_locally(slot_key: str, window: float, amount: int) -> int:
    now = time.time()
    with _local_lock:
        if len(_local_counts) >= _LOCAL_KEYS:
            # Drop the windows that are over; never all counts (a flood of new keys would
            # otherwise reset everyone's limits).
            for key in [k for k, (_, until) in _local_counts.items() if until < now]:
                del _local_counts[key]
        count, until = _local_counts.get(slot_key, (0, now + window * 2))
        _local_counts[slot_key] = (count + amount, until)
        return count + amount
