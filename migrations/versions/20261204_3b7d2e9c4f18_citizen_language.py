"""the citizen's language: conversations.language (what the platform says to them is in it) and
tickets.language (what the report is written in), "vi" or "en", "vi" for everything so far

Revision ID: 3b7d2e9c4f18
Revises: b7d2e9f4a1c3
Create Date: 2026-12-04 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3b7d2e9c4f18"
down_revision: str | None = "b7d2e9f4a1c3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("conversations", "tickets"):
        op.add_column(
            table, sa.Column("language", sa.String(length=2), server_default="vi", nullable=False)
        )


def downgrade() -> None:
    for table in ("conversations", "tickets"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("language")
