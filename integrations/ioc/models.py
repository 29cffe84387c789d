"""The push's outbox: one row per KPI snapshot, delivered to the IOC in order."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.database import Base, BigId, UTCDateTime, utcnow


class IocSnapshot(Base):
    """A snapshot as it is signed and sent: the body is kept byte for byte, so a retry carries
    the same body, the same `Idempotency-Key` and a signature over the same bytes."""

    __tablename__ = "ioc_snapshots"
    __table_args__ = (Index("ix_ioc_snapshots_pending", "delivered_at", "failed_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    snapshot_id: Mapped[str] = mapped_column(String(40), unique=True)  # the Idempotency-Key
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Given up: the IOC refused it (a 4xx other than 408/429) ioc_push_max_refusals times.
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
