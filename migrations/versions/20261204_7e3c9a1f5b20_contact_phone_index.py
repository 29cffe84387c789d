"""contacts.phone indexed: the tickets one phone number opened are counted at each filing

Revision ID: 7e3c9a1f5b20
Revises: b4e8a1c9d2f7
Create Date: 2026-12-04 07:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7e3c9a1f5b20"
down_revision: str | None = "b4e8a1c9d2f7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_contacts_phone", "contacts", ["phone"])


def downgrade() -> None:
    op.drop_index("ix_contacts_phone", table_name="contacts")
