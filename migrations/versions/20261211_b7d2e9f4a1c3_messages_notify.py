"""messages notify

On PostgreSQL, every outbound message announces its conversation on the channel
`tiepdan_messages` when its transaction commits, so that the API processes wake the web chats
waiting on it (bot/message_push.py) instead of each open chat polling the table. A trigger
catches every writer: the ORM, the Core inserts of bot/message_store.py, and the Celery workers
in other processes. SQLite has no LISTEN: the embedded mode keeps polling, and this is a no-op.

Revision ID: b7d2e9f4a1c3
Revises: e3f1c2a9b7d4
Create Date: 2026-12-11 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b7d2e9f4a1c3"
down_revision: str | None = "e3f1c2a9b7d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # pg_notify rather than NOTIFY: the payload is an expression. Identical notifications in one
    # transaction are folded into one by PostgreSQL, so a burst of replies wakes a chat once.
    op.execute(
        """
        CREATE FUNCTION tiepdan_notify_message() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('tiepdan_messages', NEW.conversation_id::text);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER messages_notify AFTER INSERT ON messages
        FOR EACH ROW WHEN (NEW.direction = 'out')
        EXECUTE FUNCTION tiepdan_notify_message()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER messages_notify ON messages")
    op.execute("DROP FUNCTION tiepdan_notify_message()")
