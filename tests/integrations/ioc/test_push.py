"""The signed push against a real local receiver: down for hours, then back; nothing lost,
nothing twice, in order; a snapshot the IOC keeps refusing does not block the others."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.settings import get_settings
from integrations.ioc import push
from integrations.ioc.models import IocSnapshot
from tests.integrations.ioc.receiver import Receiver

pytestmark = pytest.mark.usefixtures("empty_aggregates")

SECRET = "a-test-secret-of-the-ioc-0123456789abcdef"
T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    ioc = Receiver(secret=SECRET)
    ioc.start()
    settings = get_settings()
    monkeypatch.setattr(settings, "ioc_push_url", ioc.url)
    monkeypatch.setattr(settings, "ioc_push_secret", SECRET)
    monkeypatch.setattr(settings, "ioc_push_interval", 300)
    monkeypatch.setattr(settings, "ioc_push_max_refusals", 3)
    yield ioc
    ioc.stop()


def _deliver_until_idle(db_session, now: datetime) -> list[str]:
    outcomes = []
    for _ in range(50):
        attempt = push.deliver_next(db_session, now=now)
        outcomes.append(attempt.outcome)
        if attempt.outcome not in ("delivered", "failed"):
            break
    return outcomes


def test_snapshots_reach_the_ioc_in_order_once_each_after_hours_down(db_session, receiver):
    ids = []
    now = T0
    ids.append(push.create_snapshot(db_session, now=now).snapshot_id)
    assert _deliver_until_idle(db_session, now) == ["delivered", "idle"]

    # The IOC answers 503 for a while, then is off altogether (connection refused).
    receiver.mode = "error"
    for step in range(1, 4):
        now = T0 + timedelta(minutes=5 * step)
        ids.append(push.create_snapshot(db_session, now=now).snapshot_id)
        _deliver_until_idle(db_session, now)
    receiver.stop()
    for step in range(4, 40):  # three hours of snapshots while it is down
        now = T0 + timedelta(minutes=5 * step)
        ids.append(push.create_snapshot(db_session, now=now).snapshot_id)
        outcomes = _deliver_until_idle(db_session, now)
        assert "delivered" not in outcomes
    # A beat job delivered twice in the same interval makes no second snapshot.
    assert push.create_snapshot(db_session, now=now).snapshot_id == ids[-1]
    waiting = db_session.scalars(select(IocSnapshot).where(IocSnapshot.delivered_at.is_(None)))
    assert len(list(waiting)) == 39

    receiver.mode = "up"
    receiver.start()  # back on the same port
    now += timedelta(minutes=11)  # past the longest backoff
    outcomes = _deliver_until_idle(db_session, now)

    assert outcomes.count("delivered") == 39
    keys = [r.key for r in receiver.accepted]
    assert keys == ids  # every snapshot, in order, none twice
    assert receiver.bad_signatures == 0
    assert all(r.body["snapshot_id"] == r.key for r in receiver.accepted)
    first = db_session.scalar(select(IocSnapshot).where(IocSnapshot.snapshot_id == ids[1]))
    assert first.attempts > 2 and first.delivered_at == now
    # Delivered snapshots are not sent again.
    before = receiver.requests
    assert _deliver_until_idle(db_session, now + timedelta(hours=1)) == ["idle"]
    assert receiver.requests == before


def test_a_snapshot_the_ioc_keeps_refusing_is_given_up_and_the_next_goes(db_session, receiver):
    refused = push.create_snapshot(db_session, now=T0)
    later = push.create_snapshot(db_session, now=T0 + timedelta(minutes=5))
    receiver.refuse.add(refused.snapshot_id)

    now = T0 + timedelta(minutes=6)
    for _ in range(3):
        _deliver_until_idle(db_session, now)
        now += timedelta(minutes=11)

    db_session.refresh(refused)
    assert refused.failed_at is not None and refused.attempts == 3
    assert "HTTP 400" in (refused.last_error or "")
    assert [r.key for r in receiver.accepted] == [later.snapshot_id]


def test_the_signature_is_over_the_timestamp_and_the_raw_body(db_session, receiver):
    snapshot = push.create_snapshot(db_session, now=T0)
    push.deliver_next(db_session, now=T0)

    (received,) = receiver.accepted
    assert received.timestamp == str(int(T0.timestamp()))
    assert json.loads(snapshot.body) == received.body
    assert push.sign("k", "1", b"{}") == (
        "sha256=" + __import__("hmac").new(b"k", b"1.{}", "sha256").hexdigest()
    )
    body = received.body
    assert {"last_30_days", "by_agency", "by_category", "by_ward", "today", "hotspots"} <= set(body)


def test_the_beat_schedule_follows_the_settings(monkeypatch: pytest.MonkeyPatch):
    from tiepdan.worker import beat_schedule

    settings = get_settings()
    monkeypatch.setattr(settings, "ioc_push_url", "")
    assert "push-ioc-snapshot" not in beat_schedule()
    assert beat_schedule()["refresh-kpis"]["task"] == "feedback.refresh_kpis"

    monkeypatch.setattr(settings, "ioc_push_url", "http://127.0.0.1:9/x")
    monkeypatch.setattr(settings, "ioc_push_secret", SECRET)
    monkeypatch.setattr(settings, "ioc_push_interval", 120)
    entry = beat_schedule()["push-ioc-snapshot"]
    assert entry == {"task": "integrations.ioc.snapshot_kpis", "schedule": 120.0}


def test_nothing_is_pushed_without_a_url(monkeypatch: pytest.MonkeyPatch):
    from integrations.ioc.tasks import snapshot_kpis

    monkeypatch.setattr(get_settings(), "ioc_push_url", "")
    assert snapshot_kpis() is None
    assert push.deliver_pending() == 0


def test_the_settings_refuse_a_url_without_a_secret_and_a_short_secret_in_production():
    from core.settings import Settings

    with pytest.raises(ValueError, match="TIEPDAN_IOC_PUSH_SECRET"):
        Settings(ioc_push_url="https://ioc.example/in")
    with pytest.raises(ValueError, match="32\\+"):
        Settings(
            environment="production",
            secret_key="x" * 40,
            service_token="y" * 30,
            rasa_token="z" * 30,
            ioc_push_url="https://ioc.example/in",
            ioc_push_secret="short",
        )
