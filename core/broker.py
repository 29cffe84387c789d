"""The embedded broker: kombu's SQLAlchemy transport, made to lose no job and keep no garbage.

kombu's own transport hides a message when a worker takes it and keeps the unacknowledged
message only in the worker's memory. A worker killed mid-task (SIGKILL, the power cut) takes
the job with it, and acknowledged messages stay in the table for ever. Here:

- taking a message also writes a claim: which process on which machine holds it;
- acknowledging (or rejecting) deletes the message and its claim;
- every few seconds a worker gives back the messages claimed by a process of this machine that
  no longer runs, and any claim older than CLAIM_TIMEOUT (a process on another machine, or a
  reused process id), so a restarted worker runs them again within seconds.

Used for `sqla+` broker URLs (the embedded default); Redis and RabbitMQ have their own
guarantees (acks_late, reject_on_worker_lost and Redis's visibility timeout, core/celery_app.py).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import datetime, timedelta
from typing import Any, ClassVar

from kombu.transport import sqlalchemy as kombu_sqla
from kombu.transport.virtual import Empty
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads
from sqlalchemy import text

logger = logging.getLogger(__name__)

# How often a worker looks for messages held by dead processes.
SWEEP_SECONDS = 5.0
# A claim this old is given back whoever holds it: longer than any of our jobs runs.
CLAIM_TIMEOUT = timedelta(hours=1)
# Hidden messages without a claim (taken by kombu's own transport, before this one) are
# deleted after this long: they were acknowledged, or lost long ago.
UNCLAIMED_TIMEOUT = timedelta(days=1)

_CREATE_CLAIMS = """
CREATE TABLE IF NOT EXISTS tiepdan_broker_claims (
    message_id BIGINT PRIMARY KEY,
    host VARCHAR(255) NOT NULL,
    pid INTEGER NOT NULL,
    claimed_at TIMESTAMP NOT NULL
)
"""


def _process_is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: running
        return True
    return True


class Channel(kombu_sqla.Channel):
    _claims_ready: ClassVar[set[str]] = set()  # engines with the claims table (per process)

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self._rows: dict[str, int] = {}  # delivery tag -> message row, for the acknowledgement
        self._host = socket.gethostname()
        self._next_sweep = 0.0

    def _engine(self) -> Any:
        engine, _session_factory = self._open()
        if engine.url.render_as_string() not in self._claims_ready:
            with engine.begin() as connection:
                connection.execute(text(_CREATE_CLAIMS))
            self._claims_ready.add(engine.url.render_as_string())
        return engine

    def _get(self, queue: str, timeout: Any = None) -> Any:
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + SWEEP_SECONDS
            self.give_back_orphans()
        self._engine()
        obj = self._get_or_create(queue)
        session = self.session
        if session.bind.name == "sqlite":
            session.execute(text("BEGIN IMMEDIATE TRANSACTION"))
        try:
            message = (
                session.query(self.message_cls)
                .with_for_update()
                .filter(self.message_cls.queue_id == obj.id)
                .filter(self.message_cls.visible != False)  # noqa: E712  (kombu's column)
                .order_by(self.message_cls.sent_at)
                .order_by(self.message_cls.id)
                .limit(1)
                .first()
            )
            if message is None:
                raise Empty()
            message.visible = False
            session.execute(
                text(
                    "INSERT INTO tiepdan_broker_claims (message_id, host, pid, claimed_at) "
                    "VALUES (:id, :host, :pid, :now)"
                ),
                {"id": message.id, "host": self._host, "pid": os.getpid(), "now": datetime.now()},
            )
            payload = loads(bytes_to_str(message.payload))
            self._rows[payload["properties"]["delivery_tag"]] = message.id
            return payload
        finally:
            session.commit()

    def basic_ack(self, delivery_tag: str, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple)
        self._forget(delivery_tag)

    def basic_reject(self, delivery_tag: str, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue)  # a requeue writes the message anew
        self._forget(delivery_tag)

    def _forget(self, delivery_tag: str) -> None:
        row = self._rows.pop(delivery_tag, None)
        if row is None:
            return
        with self._engine().begin() as connection:
            connection.execute(
                text(f"DELETE FROM {self.message_tablename} WHERE id = :id"), {"id": row}
            )
            connection.execute(
                text("DELETE FROM tiepdan_broker_claims WHERE message_id = :id"), {"id": row}
            )

    def give_back_orphans(self) -> int:
        """Make the messages held by dead processes visible again; how many."""
        now = datetime.now()
        with self._engine().begin() as connection:
            claims = connection.execute(
                text("SELECT message_id, host, pid, claimed_at FROM tiepdan_broker_claims")
            ).all()
            orphans = [
                claim.message_id
                for claim in claims
                if _as_datetime(claim.claimed_at) < now - CLAIM_TIMEOUT
                or (claim.host == self._host and not _process_is_running(claim.pid))
            ]
            for message_id in orphans:
                connection.execute(
                    text(f"UPDATE {self.message_tablename} SET visible = :yes WHERE id = :id"),
                    {"yes": True, "id": message_id},
                )
                connection.execute(
                    text("DELETE FROM tiepdan_broker_claims WHERE message_id = :id"),
                    {"id": message_id},
                )
            connection.execute(
                text(
                    f"DELETE FROM {self.message_tablename} WHERE visible = :no "
                    "AND timestamp < :before AND id NOT IN "
                    "(SELECT message_id FROM tiepdan_broker_claims)"
                ),
                {"no": False, "before": now - UNCLAIMED_TIMEOUT},
            )
        if orphans:
            logger.warning("broker: %d job(s) of a stopped worker given back", len(orphans))
        return len(orphans)


def _as_datetime(value: Any) -> datetime:
    # SQLite hands a raw SQL TIMESTAMP back as text.
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


class Transport(kombu_sqla.Transport):
    Channel = Channel
