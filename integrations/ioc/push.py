"""The signed push: KPI snapshots to TIEPDAN_IOC_PUSH_URL, through an outbox, in order.

- Every TIEPDAN_IOC_PUSH_INTERVAL seconds beat asks for a snapshot. Its id names the interval it
  belongs to, so a beat job delivered twice makes one snapshot. The body is stored as it will be
  sent, byte for byte.
- Delivery takes the oldest snapshot not yet acknowledged, and only that one: a later snapshot
  never goes before an earlier one. Each POST carries `X-TiepDan-Timestamp` (Unix seconds),
  `X-TiepDan-Signature` (`sha256=` + hex HMAC-SHA256 of `<timestamp>.<body>`, keyed with
  TIEPDAN_IOC_PUSH_SECRET) and `Idempotency-Key` (the snapshot id, the same on every retry).
- A 2xx marks the snapshot delivered, in its own transaction, before the next one is sent.
  A network error, a timeout, a 5xx, 408 or 429 is retried with exponential backoff (5 s, 10 s,
  20 s ... at most 10 minutes, or the IOC's Retry-After), for as long as the IOC is down: the
  snapshots wait in the outbox and go out in order when it is back. Another 4xx means the IOC
  refuses this snapshot: after TIEPDAN_IOC_PUSH_MAX_REFUSALS refusals it is marked failed,
  logged, and the next one goes, so one bad snapshot cannot block the feed forever.
- One delivery at a time: on PostgreSQL a transaction-level advisory lock (the embedded mode has
  a single worker). Should a worker die between the IOC's 2xx and the commit, that snapshot is
  sent again with the same Idempotency-Key: the IOC drops what it has already seen.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.database import session_scope
from core.settings import get_settings
from feedback import kpis
from feedback.hotspots import HotspotRule, find_hotspots
from feedback.kpi_aggregates import fresh_as_of
from integrations.ioc.models import IocSnapshot
from integrations.ioc.schemas import FiguresOut, HotspotsOut, KpisOut, SnapshotOut

logger = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 5.0
LAST_RETRY_SECONDS = 600.0
TIMEOUT_SECONDS = 10.0
_LOCK_KEY = 7_311_013  # pg advisory lock: the push's single delivery lane
_RETRYABLE = frozenset({408, 429})


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-TiepDan-Signature of a body sent at `timestamp` (what the IOC recomputes)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def snapshot_id_for(now: datetime, interval: int) -> str:
    """The id of the interval `now` falls in: the same for every run within it."""
    slot = int(now.timestamp()) // interval * interval
    return "tiepdan-" + datetime.fromtimestamp(slot, UTC).strftime("%Y%m%dT%H%M%SZ")


def build_snapshot(session: Session, *, snapshot_id: str, now: datetime) -> SnapshotOut:
    """The figures of a snapshot: the last 30 days by agency, category and ward, today, and the
    hotspots; counts, rates, codes and names only."""
    timezone = get_settings().timezone
    today = kpis.local_today()
    first = today - timedelta(days=29)
    by = {
        group: kpis.service_kpis(session, first=first, last=today, group_by=group)
        for group in ("agency", "category", "ward")
    }
    total = by["agency"]
    rule = HotspotRule()
    return SnapshotOut(
        snapshot_id=snapshot_id,
        generated_at=now,
        last_30_days=KpisOut.of(
            kpis.KpiReport(
                first=total.first,
                last=total.last,
                group_by=None,
                total=total.total,
                groups=[],
                fresh_as_of=total.fresh_as_of,
                computed_at=total.computed_at,
            ),
            timezone,
        ),
        by_agency=[FiguresOut.of(g) for g in by["agency"].groups],
        by_category=[FiguresOut.of(g) for g in by["category"].groups],
        by_ward=[FiguresOut.of(g) for g in by["ward"].groups],
        today=FiguresOut.of(kpis.service_kpis(session, first=today, last=today).total),
        hotspots=HotspotsOut.of(
            find_hotspots(session, last=today, rule=rule),
            last=today,
            rule=rule,
            fresh=fresh_as_of(session),
        ),
    )


def create_snapshot(session: Session, *, now: datetime | None = None) -> IocSnapshot:
    """Put this interval's snapshot in the outbox (or find it, when it is already there)."""
    now = now or datetime.now(UTC)
    snapshot_id = snapshot_id_for(now, get_settings().ioc_push_interval)
    existing = session.scalar(select(IocSnapshot).where(IocSnapshot.snapshot_id == snapshot_id))
    if existing is not None:
        return existing
    body = build_snapshot(session, snapshot_id=snapshot_id, now=now).model_dump_json()
    snapshot = IocSnapshot(
        snapshot_id=snapshot_id, body=body, created_at=now, attempts=0, next_attempt_at=now
    )
    session.add(snapshot)
    session.flush()
    return snapshot


def retry_delay(attempts: int) -> float:
    """5 s, 10 s, 20 s ... at most 10 minutes."""
    return min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), LAST_RETRY_SECONDS)


@dataclass(frozen=True)
class Attempt:
    snapshot_id: str | None  # None: nothing was due
    outcome: str  # delivered | retry | failed | waiting | idle | busy


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None


def deliver_next(
    session: Session, *, now: datetime | None = None, client: httpx.Client | None = None
) -> Attempt:
    """Send the oldest unacknowledged snapshot if it is due, and record what happened."""
    settings = get_settings()
    now = now or datetime.now(UTC)
    if session.get_bind().dialect.name == "postgresql" and not session.scalar(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _LOCK_KEY}
    ):
        return Attempt(None, "busy")  # another worker is delivering
    snapshot = session.scalar(
        select(IocSnapshot)
        .where(IocSnapshot.delivered_at.is_(None), IocSnapshot.failed_at.is_(None))
        .order_by(IocSnapshot.id)
        .limit(1)
    )
    if snapshot is None:
        return Attempt(None, "idle")
    if snapshot.next_attempt_at > now:
        return Attempt(snapshot.snapshot_id, "waiting")
    body = snapshot.body.encode()
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json",
        "X-TiepDan-Timestamp": timestamp,
        "X-TiepDan-Signature": sign(settings.ioc_push_secret, timestamp, body),
        "Idempotency-Key": snapshot.snapshot_id,
        "User-Agent": "TiepDan-IOC-push/1",
    }
    snapshot.attempts += 1
    own_client = client is None
    http = client or httpx.Client(timeout=TIMEOUT_SECONDS)
    try:
        response = http.post(settings.ioc_push_url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return _later(session, snapshot, now, f"{exc.__class__.__name__}: {exc}"[:500])
    finally:
        if own_client:
            http.close()
    if 200 <= response.status_code < 300:
        snapshot.delivered_at = now
        snapshot.last_error = None
        session.flush()
        return Attempt(snapshot.snapshot_id, "delivered")
    reason = f"HTTP {response.status_code}: {response.text[:200]}"
    if response.status_code >= 500 or response.status_code in _RETRYABLE:
        return _later(session, snapshot, now, reason, after=_retry_after(response))
    if snapshot.attempts >= settings.ioc_push_max_refusals:
        snapshot.failed_at = now
        snapshot.last_error = reason
        session.flush()
        logger.error(
            "ioc push: the IOC refused snapshot %s %d times (%s); giving up on it",
            snapshot.snapshot_id,
            snapshot.attempts,
            reason,
        )
        return Attempt(snapshot.snapshot_id, "failed")
    return _later(session, snapshot, now, reason)


def _later(
    session: Session, snapshot: IocSnapshot, now: datetime, reason: str, after: float | None = None
) -> Attempt:
    delay = after if after is not None else retry_delay(snapshot.attempts)
    snapshot.next_attempt_at = now + timedelta(seconds=min(delay, LAST_RETRY_SECONDS))
    snapshot.last_error = reason
    session.flush()
    logger.warning(
        "ioc push: snapshot %s not delivered (%s); attempt %d, next in %.0f s",
        snapshot.snapshot_id,
        reason,
        snapshot.attempts,
        delay,
    )
    return Attempt(snapshot.snapshot_id, "retry")


def deliver_pending(*, limit: int = 1000) -> int:
    """Deliver what is due, oldest first, one transaction per snapshot; returns how many went."""
    if not get_settings().ioc_push_url:
        return 0
    delivered = 0
    with httpx.Client(timeout=TIMEOUT_SECONDS) as client:
        for _ in range(limit):
            with session_scope() as session:
                attempt = deliver_next(session, client=client)
            if attempt.outcome == "delivered":
                delivered += 1
            elif attempt.outcome != "failed":
                break  # nothing due, the IOC is down, or another worker is at it
    return delivered
