"""outbound delivery and channel state

Outbound messages move queued -> sent -> delivered/seen or failed (attempts, next try, reason,
the channel's own id); conversations get the leases that keep answering and delivering in order;
channel tokens (Zalo) and button payloads too long for Telegram get tables of their own.

Revision ID: c4ad445914ad
Revises: 5c1e0b7f3a21
Create Date: 2026-12-04 03:45:16
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4ad445914ad"
down_revision: str | None = "5c1e0b7f3a21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "channel_tokens",
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_channel_tokens")),
    )
    op.create_table(
        "button_payloads",
        sa.Column("key", sa.String(length=24), nullable=False),
        sa.Column("conversation_id", BIG_ID, nullable=False),
        sa.Column("message_id", BIG_ID, nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_button_payloads_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_button_payloads_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_button_payloads")),
    )
    op.create_index(
        op.f("ix_button_payloads_conversation_id"), "button_payloads", ["conversation_id"]
    )
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("answer_lease_until", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("delivery_lease_until", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("last_delivered_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("external_id", sa.String(length=100)))
        batch.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("failure_reason", sa.Text()))
    op.create_index(op.f("ix_messages_external_id"), "messages", ["external_id"])
    op.create_index("ix_messages_state_next_attempt_at", "messages", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_state_next_attempt_at", table_name="messages")
    op.drop_index(op.f("ix_messages_external_id"), table_name="messages")
    with op.batch_alter_table("messages") as batch:
        for column in ("failure_reason", "next_attempt_at", "attempts", "external_id"):
            batch.drop_column(column)
    with op.batch_alter_table("conversations") as batch:
        for column in ("last_delivered_at", "delivery_lease_until", "answer_lease_until"):
            batch.drop_column(column)
    op.drop_index(op.f("ix_button_payloads_conversation_id"), table_name="button_payloads")
    op.drop_table("button_payloads")
    op.drop_table("channel_tokens")
