"""Limits as settings, and the counts behind them: in Redis, shared by every process, or in
the process itself when there is no Redis (the embedded mode)."""

from __future__ import annotations

import uuid

import pytest

from core import ratelimit
from core.errors import TooMany
from core.rates import Rate, parse_rate
from core.settings import Settings, get_settings


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("20/minute", Rate(20, 60)),
        (" 5 / hour ", Rate(5, 3600)),
        ("50MB/day", Rate(50_000_000, 86400)),
        ("200kb/Second", Rate(200_000, 1)),
        ("off", None),
        ("", None),
    ],
)
def test_a_limit_reads_as_amount_per_period(text, rate):
    assert parse_rate(text) == rate


def test_a_limit_that_does_not_read_is_refused_at_start_with_what_to_write(monkeypatch):
    monkeypatch.setenv("TIEPDAN_LIMIT_MESSAGES_PER_SESSION", "30 per minute")
    with pytest.raises(ValueError, match="<amount>/<period>"):
        Settings()


@pytest.fixture(params=["redis", "process"])
def counter(request, monkeypatch) -> str:
    """Both places a count may live; keys of the test's own in the shared Redis."""
    ratelimit.forget()
    if request.param == "process":
        monkeypatch.setattr(ratelimit, "_redis", lambda: None)
    else:
        assert get_settings().redis_url  # the tests' broker is Redis
    return f"test:{uuid.uuid4().hex}"


def test_over_the_limit_is_refused_with_when_to_come_back(counter):
    for _ in range(3):
        ratelimit.enforce(counter, "3/minute", message="{seconds}")
    with pytest.raises(TooMany) as refused:
        ratelimit.enforce(counter, "3/minute", message="chờ {seconds} giây")
    assert 1 <= refused.value.retry_after <= 60
    assert refused.value.message == f"chờ {refused.value.retry_after} giây"
    assert refused.value.status_code == 429


def test_a_refused_event_is_not_counted(counter):
    """A client that retries too early must not push its own window further."""
    ratelimit.enforce(counter, "1/minute", message="")
    for _ in range(5):
        with pytest.raises(TooMany):
            ratelimit.enforce(counter, "1/minute", message="")
    assert ratelimit.wait_time(counter, limit=2, window=60) == 0  # the count is still 1, now 2


def test_bytes_count_by_amount(counter):
    ratelimit.enforce(counter, "10MB/day", message="", amount=6_000_000)
    with pytest.raises(TooMany):
        ratelimit.enforce(counter, "10MB/day", message="", amount=6_000_000)
    ratelimit.enforce(counter, "10MB/day", message="", amount=4_000_000)  # what is left


def test_off_counts_nothing(counter):
    for _ in range(100):
        ratelimit.enforce(counter, "off", message="")


def test_without_redis_a_flood_of_new_keys_does_not_reset_the_others(monkeypatch):
    ratelimit.forget()
    monkeypatch.setattr(ratelimit, "_redis", lambda: None)
    monkeypatch.setattr(ratelimit, "_LOCAL_KEYS", 100)
    ratelimit.enforce("victim", "1/hour", message="")
    for n in range(500):
        ratelimit.enforce(f"flood-{n}", "1/hour", message="")
    with pytest.raises(TooMany):
        ratelimit.enforce("victim", "1/hour", message="")
