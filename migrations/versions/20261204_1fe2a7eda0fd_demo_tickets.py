"""tickets.demo: the generated demo tickets, so that one command removes them

Revision ID: 1fe2a7eda0fd
Revises: 7e3c9a1f5b20
Create Date: 2026-12-04 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1fe2a7eda0fd"
down_revision: str | None = "7e3c9a1f5b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "tickets",
        sa.Column("demo", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("demo")
