"""The push's Celery tasks: a snapshot every TIEPDAN_IOC_PUSH_INTERVAL seconds, and delivery."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.celery_app import celery_app, db_task, enqueue
from core.settings import get_settings
from feedback import kpi_aggregates
from integrations.ioc import push


@db_task("integrations.ioc.snapshot_kpis")
def snapshot_kpis(session: Session) -> str | None:
    """Refresh the aggregates, put this interval's snapshot in the outbox, queue its delivery;
    nothing while TIEPDAN_IOC_PUSH_URL is unset."""
    if not get_settings().ioc_push_url:
        return None
    kpi_aggregates.refresh(session)
    snapshot = push.create_snapshot(session)
    enqueue(session, "integrations.ioc.deliver_snapshots")
    return snapshot.snapshot_id


@celery_app.task(name="integrations.ioc.deliver_snapshots")
def deliver_snapshots() -> int:
    """Send the snapshots that are due, in order (beat also runs this every 15 s)."""
    return push.deliver_pending()
