"""`GET /metrics`: Prometheus's text format, every API and worker process added up
(core/metrics.py), plus gauges read at scrape time: the Celery queue's depth, how old the KPI
aggregates are, and the IOC push's waiting snapshots. Behind TIEPDAN_METRICS_TOKEN when set."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import Response
from sqlalchemy import func, select

from core import metrics
from core.database import session_scope
from core.errors import Unauthorized
from core.settings import get_settings
from feedback.kpi_aggregates import fresh_as_of
from integrations.ioc.models import IocSnapshot

logger = logging.getLogger(__name__)
router = APIRouter()
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ScrapeTimeGauges:
    """Gauges that are a reading, not a count: taken when Prometheus asks."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        depth = metrics.queue_depth()
        queue = GaugeMetricFamily(
            "tiepdan_celery_queue_depth", "Jobs waiting in this instance's Celery queue"
        )
        if depth is not None:
            queue.add_metric([], depth)
        yield queue
        fresh, waiting = None, None
        try:
            with session_scope() as session:
                fresh = fresh_as_of(session)
                waiting = session.scalar(
                    select(func.count()).where(
                        IocSnapshot.delivered_at.is_(None), IocSnapshot.failed_at.is_(None)
                    )
                )
        except Exception:  # the counters still go out when the database is down
            logger.exception("metrics: could not read the database for the gauges")
        age = GaugeMetricFamily(
            "tiepdan_kpi_aggregates_age_seconds", "Seconds since the KPI aggregates were refreshed"
        )
        if fresh is not None:
            age.add_metric([], (datetime.now(UTC) - fresh).total_seconds())
        yield age
        outbox = GaugeMetricFamily(
            "tiepdan_ioc_snapshots_waiting", "KPI snapshots not yet acknowledged by the IOC"
        )
        if waiting is not None:
            outbox.add_metric([], waiting)
        yield outbox


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(authorization: Annotated[str | None, Header()] = None) -> Response:
    token = get_settings().metrics_token
    if token:
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise Unauthorized("Send 'Authorization: Bearer <TIEPDAN_METRICS_TOKEN>'.")
    return Response(metrics.collect(ScrapeTimeGauges()), media_type=CONTENT_TYPE)
