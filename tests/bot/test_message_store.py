"""How a turn is written: the gateway's own statements, on PostgreSQL (one statement per half
of a turn) and on SQLite (the embedded default, the same steps in a transaction).

The statements commit for real, so each test uses a channel of its own and cleans up after.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from bot import message_store
from bot.conversations import reply_of
from bot.message_store import store_inbound, store_outcome
from bot.models import Conversation, Direction, Message, MessageState
from core.database import dispose_engine, session_scope
from core.errors import Forbidden
from core.settings import get_settings
from integrations.channel import Inbound, Reply
from tiepdan.db import upgrade


@pytest.fixture(params=["postgresql", "sqlite"])
def dialect(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The gateway's database: the test PostgreSQL, or a migrated SQLite file."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tiepdan.sqlite3'}"
        upgrade(url)
        settings = get_settings()
        postgresql_url = settings.database_url
        dispose_engine()
        settings.database_url = url
        try:
            yield "sqlite"
        finally:
            dispose_engine()
            settings.database_url = postgresql_url
        return
    yield "postgresql"


@pytest.fixture
def channel(dialect: str) -> Iterator[str]:
    name = f"t-{secrets.token_hex(4)}"
    yield name
    with session_scope() as session:
        conversations = select(Conversation.id).where(Conversation.channel == name)
        session.execute(delete(Message).where(Message.conversation_id.in_(conversations)))
        session.execute(delete(Conversation).where(Conversation.channel == name))


def _messages(channel: str) -> list[Message]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(Message)
                .join(Conversation)
                .where(Conversation.channel == channel)
                .order_by(Message.id)
            )
        )


def test_a_turn_is_stored_with_its_replies_in_order(channel):
    inbound = Inbound(channel=channel, channel_user_id="u1", text="xin chào", metadata={"a": 1})
    stored = store_inbound(inbound)
    assert stored is not None and not stored.handed_off
    assert [m.state for m in _messages(channel)] == [MessageState.RECEIVED]  # committed first

    replies = [
        Reply(text="Chào bạn"),
        Reply(text="Bạn cần gì?", buttons=[{"title": "Phản ánh", "payload": "/file_complaint"}]),
        Reply(image="/api/v1/webchat/photos/x.png"),
    ]
    store_outcome(stored, MessageState.ANSWERED, replies, ticket_code="PA-1")

    inbound_row, *reply_rows = _messages(channel)
    assert inbound_row.id == stored.message_id
    assert (inbound_row.direction, inbound_row.state) == (Direction.INBOUND, MessageState.ANSWERED)
    assert inbound_row.ticket_code == "PA-1" and inbound_row.content == {"metadata": {"a": 1}}
    assert inbound_row.created_at.tzinfo is not None
    assert [reply_of(m) for m in reply_rows] == replies
    assert {(m.direction, m.state, m.ticket_code) for m in reply_rows} == {
        (Direction.OUTBOUND, MessageState.SENT, "PA-1")
    }
    assert all(m.conversation_id == stored.conversation_id for m in reply_rows)


def test_the_second_message_joins_the_conversation_and_moves_its_time(channel):
    first = store_inbound(Inbound(channel=channel, channel_user_id="u1", text="một"))
    assert first is not None
    with session_scope() as session:
        before = session.get_one(Conversation, first.conversation_id).last_message_at
    second = store_inbound(Inbound(channel=channel, channel_user_id="u1", text="hai"))
    assert second is not None and second.conversation_id == first.conversation_id
    assert second.message_id > first.message_id
    with session_scope() as session:
        assert session.get_one(Conversation, first.conversation_id).last_message_at > before


def test_an_outcome_without_replies_still_marks_the_message(channel):
    stored = store_inbound(Inbound(channel=channel, channel_user_id="u1", text="alo"))
    assert stored is not None
    store_outcome(stored, MessageState.HANDED_OFF, [])
    assert [m.state for m in _messages(channel)] == [MessageState.HANDED_OFF]


def test_a_handed_off_conversation_says_so(channel):
    stored = store_inbound(Inbound(channel=channel, channel_user_id="u1", text="alo"))
    assert stored is not None
    with session_scope() as session:
        session.get_one(Conversation, stored.conversation_id).handed_off = True
    again = store_inbound(Inbound(channel=channel, channel_user_id="u1", text="còn đó?"))
    assert again is not None and again.handed_off and not again.rasa_restart_due


def test_a_due_restart_of_rasa_is_told_with_the_message(channel):
    stored = store_inbound(Inbound(channel=channel, channel_user_id="u1", text="alo"))
    assert stored is not None and not stored.rasa_restart_due
    with session_scope() as session:
        session.get_one(Conversation, stored.conversation_id).rasa_restart_due = True
    again = store_inbound(Inbound(channel=channel, channel_user_id="u1", text="còn đó?"))
    assert again is not None and again.rasa_restart_due and not again.handed_off


def test_a_message_id_seen_before_is_not_stored_again(channel):
    inbound = Inbound(channel=channel, channel_user_id="u1", text="alo", channel_message_id="m-1")
    assert store_inbound(inbound) is not None
    with session_scope() as session:
        conversation = session.scalars(
            select(Conversation).where(Conversation.channel == channel)
        ).one()
        time_before = conversation.last_message_at
    assert store_inbound(inbound) is None
    assert len(_messages(channel)) == 1
    with session_scope() as session:
        assert session.get_one(Conversation, conversation.id).last_message_at == time_before


def test_an_unknown_sender_is_refused_where_only_the_server_opens_conversations(channel):
    inbound = Inbound(channel=channel, channel_user_id="never-issued", text="alo")
    inbound.opens_conversation = False
    with pytest.raises(Forbidden):
        store_inbound(inbound)
    assert _messages(channel) == []


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)  # SQLite: one writer at a time
def test_two_first_messages_at_once_are_both_kept(channel, monkeypatch):
    """A new sender whose first two messages arrive together: one conversation, two messages,
    neither mistaken for a retry. Both try to open the conversation at once (the statement that
    opens it with the first message); one of them finds it opened by the other."""
    opening = threading.Barrier(2)
    store = message_store._store_inbound

    def store_together(values: dict, **kwargs: bool) -> object:
        if kwargs.get("opening"):
            opening.wait(timeout=10)
        return store(values, **kwargs)

    monkeypatch.setattr(message_store, "_store_inbound", store_together)
    results: list[object] = []

    def send(number: int) -> None:
        inbound = Inbound(channel, "u1", text=f"tin {number}", channel_message_id=str(number))
        results.append(store_inbound(inbound))

    threads = [threading.Thread(target=send, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result is not None for result in results)
    rows = _messages(channel)
    assert sorted(m.text for m in rows) == ["tin 1", "tin 2"]
    assert len({m.conversation_id for m in rows}) == 1


def test_the_conversation_keeps_the_language_its_messages_show(channel):
    """English from the first message; a phone number, a code or a button keeps it; Vietnamese
    turns it back. The next worker reads it with the message it answers."""

    def say(text: str | None, payload: str | None = None) -> str:
        inbound = Inbound(channel=channel, channel_user_id="u1", text=text, payload=payload)
        stored = store_inbound(inbound)
        assert stored is not None
        with session_scope() as session:
            kept = session.get_one(Conversation, stored.conversation_id).language
        assert kept == stored.language
        return stored.language

    assert say("Hello") == "en"
    assert say("The street light near VSIP 1 gate is broken") == "en"
    assert say("0912 345 678") == "en"
    assert say("PA7K3M9QXT") == "en"
    assert say(None, payload="/affirm") == "en"
    assert say("xin chào, cho tôi hỏi") == "vi"
    assert say("ok") == "vi"
