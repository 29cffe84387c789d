"""admin panel: staff sessions, sign-in protection, audit log, calendar days, FAQ entries,
ticket assignee, merged duplicates and the NLU's category candidates

Revision ID: b4e8a1c9d2f7
Revises: c4ad445914ad
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b4e8a1c9d2f7"
down_revision: str | None = "c4ad445914ad"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Migrations never import the application: the same UTC timestamp type, spelled out.
UTC_DATETIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(
            sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("locked_until", UTC_DATETIME, nullable=True))
        batch.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("password_changed_at", UTC_DATETIME, nullable=True))

    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("merged_at", UTC_DATETIME, nullable=True))
        batch.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("category_candidates", sa.JSON(), nullable=True))
        batch.create_foreign_key(
            "fk_tickets_assignee_id_staff_users", "staff_users", ["assignee_id"], ["id"]
        )
        batch.create_index("ix_tickets_duplicate_of_id", ["duplicate_of_id"])

    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("last_seen_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_users.id"], name="fk_staff_sessions_user_id_staff_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_staff_sessions"),
    )
    op.create_index("ix_staff_sessions_user_id", "staff_sessions", ["user_id"])

    op.create_table(
        "audit_entries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["staff_users.id"], name="fk_audit_entries_actor_id_staff_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_audit_entries"),
    )
    op.create_index("ix_audit_entries_created", "audit_entries", ["created_at", "id"])

    op.create_table(
        "calendar_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("working", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_calendar_days"),
    )

    op.create_table(
        "faq_entries",
        sa.Column("id", sa.String(length=60), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("alternatives", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_faq_entries"),
    )


def downgrade() -> None:
    op.drop_table("faq_entries")
    op.drop_table("calendar_days")
    op.drop_index("ix_audit_entries_created", table_name="audit_entries")
    op.drop_table("audit_entries")
    op.drop_index("ix_staff_sessions_user_id", table_name="staff_sessions")
    op.drop_table("staff_sessions")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_duplicate_of_id")
        batch.drop_constraint("fk_tickets_assignee_id_staff_users", type_="foreignkey")
        batch.drop_column("category_candidates")
        batch.drop_column("assignee_id")
        batch.drop_column("merged_at")
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("password_changed_at")
        batch.drop_column("totp_secret")
        batch.drop_column("locked_until")
        batch.drop_column("failed_logins")
