"""Waking the open web chats when a message for them is committed, without polling.

Why: an open chat must learn of messages other processes write (a worker storing a staff reply,
a status change), and the database is where they meet. Polling it each second costs one
transaction per open chat per second: 10,000 open chats, 10,000 transactions a second, nearly
all of them finding nothing (bench/results/websockets.md).

How: on PostgreSQL a trigger (migration b7d2e9f4a1c3) runs `pg_notify('tiepdan_messages',
<conversation id>)` for every outbound message. PostgreSQL delivers a notification only when its
transaction commits, so a chat that is woken always finds the row. Each API process holds one
connection that LISTENs (`MessagePush`, started by the app's lifespan) and sets the events of
the chats waiting on that conversation; the chats then read their new messages as before. The
notification carries only the conversation id: the text is read under the chat's own rules.

What if it breaks: a notification sent while this process is not listening is lost. So when the
connection drops, every chat is woken and polls each second (`listening()` is false) until the
listener is back; once it is, every chat is woken again to read what it may have missed. A chat
that is listened for still reads every SAFETY_POLL_SECONDS, a bound on how late a message can be
if something unforeseen swallows its notification.

SQLite (the embedded mode) has no LISTEN: the chats poll, which is cheap at its scale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import psycopg
from sqlalchemy import make_url

logger = logging.getLogger(__name__)

CHANNEL = "tiepdan_messages"
# How often a chat reads anyway while the listener is up: the most a message can be late if its
# notification is lost in a way we did not foresee; also 1/30 of the polling's load.
SAFETY_POLL_SECONDS = 30.0
# The listening connection is checked this often (a query), so that a connection cut without a
# word (a firewall, a failover) is noticed and replaced.
HEARTBEAT_SECONDS = 30.0
# Between attempts to reconnect: doubling from the first to the last.
RECONNECT_SECONDS = (0.5, 30.0)
# How the connection shows in pg_stat_activity (the tests and operators find it by this name).
APPLICATION_NAME = "tiepdan-message-push"


class MessagePush:
    """One LISTEN connection, and the chats of this process waiting on their conversations."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._waiting: dict[int, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self.listening = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="message-push")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.listening = False

    @contextlib.contextmanager
    def subscription(self, conversation_id: int) -> Iterator[asyncio.Event]:
        """An event set whenever a message for `conversation_id` may have been committed."""
        event = asyncio.Event()
        self._waiting.setdefault(conversation_id, set()).add(event)
        try:
            yield event
        finally:
            events = self._waiting.get(conversation_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._waiting[conversation_id]

    def _wake(self, conversation_id: int) -> None:
        for event in self._waiting.get(conversation_id, ()):
            event.set()

    def _wake_all(self) -> None:
        for events in self._waiting.values():
            for event in events:
                event.set()

    async def _run(self) -> None:
        delay = RECONNECT_SECONDS[0]
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._dsn, autocommit=True, application_name=APPLICATION_NAME
                ) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    self.listening = True
                    delay = RECONNECT_SECONDS[0]
                    # What was committed while no one listened is read now.
                    self._wake_all()
                    logger.info("Listening for new messages (%s)", CHANNEL)
                    while True:
                        async for notify in connection.notifies(timeout=HEARTBEAT_SECONDS):
                            with contextlib.suppress(ValueError):
                                self._wake(int(notify.payload))
                        await connection.execute("SELECT 1")
            except Exception as exc:  # whatever it was, the chats poll until the next attempt
                logger.warning(
                    "Not listening for new messages (%s); the chats poll, retrying in %.1f s",
                    exc.__class__.__name__,
                    delay,
                )
            finally:
                if self.listening:
                    self.listening = False
                    self._wake_all()  # they poll until the listener is back
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_SECONDS[1])


_push: MessagePush | None = None


@contextlib.contextmanager
def subscription(conversation_id: int) -> Iterator[asyncio.Event]:
    """An event set when a message for the conversation may have been committed (never set
    where nothing listens: the chat polls)."""
    if _push is None:
        yield asyncio.Event()
        return
    with _push.subscription(conversation_id) as event:
        yield event


def listening() -> bool:
    """Whether this process is woken of new messages now; if not, the chats poll."""
    return _push is not None and _push.listening


async def start(database_url: str, *, mode: str) -> MessagePush | None:
    """Start listening, on PostgreSQL and unless the settings ask the chats to poll; the
    listener started is returned, for `stop`."""
    global _push
    if mode != "notify" or make_url(database_url).get_backend_name() != "postgresql":
        return None
    _push = MessagePush(database_url)
    _push.start()
    return _push


async def stop(push: MessagePush | None) -> None:
    """Stop the listener `start` returned. Only that one: an app whose lifespan ends late
    (a test's, from another event loop) must not stop a newer app's listener."""
    global _push
    if push is None:
        return
    await push.stop()
    if _push is push:
        _push = None
