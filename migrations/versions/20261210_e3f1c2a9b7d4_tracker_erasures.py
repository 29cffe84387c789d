"""tracker erasures

The Rasa conversations still to erase for people who asked to be forgotten while Rasa could
not be reached (bot/privacy.py); a row goes once Rasa has erased its conversation.

Revision ID: e3f1c2a9b7d4
Revises: a5bb2fb9d325
Create Date: 2026-12-10 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e3f1c2a9b7d4"
down_revision: str | None = "a5bb2fb9d325"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tracker_erasures",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("sender_id", sa.String(length=300), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracker_erasures")),
        sa.UniqueConstraint("sender_id", name=op.f("uq_tracker_erasures_sender_id")),
    )


def downgrade() -> None:
    op.drop_table("tracker_erasures")
