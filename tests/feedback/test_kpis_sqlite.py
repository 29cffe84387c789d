"""The embedded mode keeps the KPI aggregates on SQLite too: refresh, KPIs and hotspots."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from core.database import make_engine
from feedback import kpi_aggregates, kpis
from feedback.hotspots import find_hotspots
from feedback.models import SurveyResponse, Ticket, TicketStatus
from feedback.province import default_province_file, load_province
from feedback.seed import seed_province
from tiepdan.db import upgrade


def test_the_aggregates_on_sqlite(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'embedded.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    created = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)  # 09:00 local
    try:
        with Session(engine) as session:
            seed_province(session, config=load_province(default_province_file()))
            for n in range(6):
                session.add(
                    Ticket(
                        code=f"PASQL{n:04d}",
                        description="Rác",
                        status=TicketStatus.RESOLVED if n < 4 else TicketStatus.ASSIGNED,
                        ward_code="25747",
                        category_code="moi_truong",
                        channel="web",
                        created_at=created + timedelta(days=n % 2),
                        updated_at=created + timedelta(days=2),
                        sla_due_at=created + timedelta(days=3),
                        first_response_at=created + timedelta(hours=2),
                        resolved_at=created + timedelta(hours=4) if n < 4 else None,
                        attachments=[],
                    )
                )
            session.flush()
            first = session.query(Ticket).filter_by(code="PASQL0000").one()
            session.add(SurveyResponse(ticket_id=first.id, score=4, created_at=created))
            session.commit()

            result = kpi_aggregates.refresh(session)
            session.commit()
            again = kpi_aggregates.refresh(session)
            session.commit()
            report = kpis.service_kpis(
                session, first=date(2026, 11, 1), last=date(2026, 11, 30), group_by="day"
            )
            find_hotspots(session, last=date(2026, 11, 30))
    finally:
        engine.dispose()

    assert (result.changed, again.changed) == (6, 0)
    total = report.total
    assert (total.received, total.resolved, total.open, total.on_time) == (6, 4, 2, 4)
    assert total.first_response.median_h is not None and total.csat.mean == 4.0
    assert [g.received for g in report.groups if g.received] == [3, 3]
    assert report.groups[-1].backlog_end == 2
