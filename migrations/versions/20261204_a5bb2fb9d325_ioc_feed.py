"""ioc feed

API keys for the IOC and Open311 clients (only a hash is kept); the KPI aggregates (each
ticket's contribution, the daily sums by dimension, and how far the refresh has read, with an
index on the tickets' `updated_at` for it); the push's outbox of signed snapshots.

Revision ID: a5bb2fb9d325
Revises: 1fe2a7eda0fd
Create Date: 2026-12-04 05:20:18
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a5bb2fb9d325"
down_revision: str | None = "1fe2a7eda0fd"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _counter(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "scope",
            sa.Enum("ioc", "open311", name="apikeyscope", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "ioc_snapshots",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("snapshot_id", sa.String(length=40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ioc_snapshots")),
        sa.UniqueConstraint("snapshot_id", name=op.f("uq_ioc_snapshots_snapshot_id")),
    )
    op.create_index(
        "ix_ioc_snapshots_pending", "ioc_snapshots", ["delivered_at", "failed_at", "id"]
    )
    op.create_table(
        "kpi_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("dim", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        *(
            _counter(name)
            for name in (
                "received",
                "resolved",
                "rejected",
                "open",
                "open_overdue",
                "on_time",
                "overdue",
                "ever_resolved",
                "reopened",
                "duplicates",
                "csat_1",
                "csat_2",
                "csat_3",
                "csat_4",
                "csat_5",
                "csat_not_fixed",
                "fr_count",
            )
        ),
        sa.Column("fr_sum_h", sa.Float(), nullable=False),
        sa.Column("fr_hist", sa.JSON(), nullable=False),
        _counter("res_count"),
        sa.Column("res_sum_h", sa.Float(), nullable=False),
        sa.Column("res_hist", sa.JSON(), nullable=False),
        _counter("finished"),
        sa.PrimaryKeyConstraint("day", "dim", "key", name=op.f("pk_kpi_daily")),
    )
    op.create_index("ix_kpi_daily_dim_day", "kpi_daily", ["dim", "day"])
    op.create_table(
        "kpi_refresh_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("watermark_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("watermark_id", BIG_ID, nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_refresh_state")),
    )
    op.create_table(
        "kpi_ticket_facts",
        sa.Column("ticket_id", BIG_ID, autoincrement=False, nullable=False),
        sa.Column("fact", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_kpi_ticket_facts")),
    )
    op.create_index("ix_tickets_updated", "tickets", ["updated_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_updated", table_name="tickets")
    op.drop_table("kpi_ticket_facts")
    op.drop_table("kpi_refresh_state")
    op.drop_index("ix_kpi_daily_dim_day", table_name="kpi_daily")
    op.drop_table("kpi_daily")
    op.drop_index("ix_ioc_snapshots_pending", table_name="ioc_snapshots")
    op.drop_table("ioc_snapshots")
    op.drop_table("api_keys")
