"""faq_entries.answer_en: the answer in English, for firms' staff and expats who ask in English;
empty for every entry so far (`tiepdan seed` fills in the shipped English answers)

Revision ID: 9c4e1a7d2b63
Revises: 3b7d2e9c4f18
Create Date: 2026-12-12 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c4e1a7d2b63"
down_revision: str | None = "3b7d2e9c4f18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "faq_entries", sa.Column("answer_en", sa.Text(), server_default="", nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("faq_entries") as batch:
        batch.drop_column("answer_en")
