"""reply_templates: the reply templates, editable in the panel (until now only the shipped
feedback/reply_templates.yaml); `tiepdan seed` copies the shipped ones in

Revision ID: 5e2b8c1f7a94
Revises: 9c4e1a7d2b63
Create Date: 2026-12-13 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e2b8c1f7a94"
down_revision: str | None = "9c4e1a7d2b63"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reply_templates",
        sa.Column("id", sa.String(length=60), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("vi", sa.Text(), nullable=False),
        sa.Column("en", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reply_templates"),
    )


def downgrade() -> None:
    op.drop_table("reply_templates")
