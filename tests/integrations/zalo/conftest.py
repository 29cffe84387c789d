"""Zalo switched on against the fake Zalo (tests/fakes/zalo.py), and what that leaves behind
cleaned up: the adapter, the gateway and the token store commit in their own transactions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select

from bot.models import Conversation, Message
from core.database import session_scope
from core.settings import get_settings
from feedback.models import Contact, ContactIdentity, Ticket, TicketEvent
from integrations import registry
from integrations.models import ChannelToken
from integrations.zalo import tokens
from integrations.zalo.adapter import ZaloAdapter
from integrations.zalo.client import TokenPair
from tests.fakes.zalo import FakeZalo


@pytest.fixture
def fake_zalo() -> Iterator[FakeZalo]:
    with FakeZalo() as fake:
        yield fake


@pytest.fixture
def zalo_on(monkeypatch: pytest.MonkeyPatch, fake_zalo: FakeZalo) -> Iterator[FakeZalo]:
    """Zalo's settings pointed at the fake; everything Zalo wrote is deleted afterwards."""
    settings = get_settings()
    for name, value in {
        "zalo_app_id": fake_zalo.app_id,
        "zalo_app_secret": fake_zalo.app_secret,
        "zalo_oa_secret": fake_zalo.oa_secret,
        "zalo_api_url": fake_zalo.url,
        "zalo_oauth_url": fake_zalo.url,
        "zalo_zns_url": fake_zalo.url,
        "zalo_zns_template_id": "",
    }.items():
        monkeypatch.setattr(settings, name, value)
    registry.forget()
    yield fake_zalo
    registry.forget()
    _delete_zalo_rows()


@pytest.fixture
def connected(zalo_on: FakeZalo) -> FakeZalo:
    """The OA connected: a valid token pair stored."""
    tokens.store(TokenPair(**{**zalo_on.issue_pair(), "expires_in": 90000}))
    return zalo_on


@pytest.fixture
def adapter(zalo_on: FakeZalo) -> Iterator[ZaloAdapter]:
    """An adapter of its own, with a short timeout (the fake's hangs are short)."""
    made = ZaloAdapter(get_settings(), timeout=0.5)
    yield made
    made.close()


def _delete_zalo_rows() -> None:
    with session_scope() as session:
        session.execute(delete(ChannelToken).where(ChannelToken.channel == "zalo"))
        conversations = select(Conversation.id).where(Conversation.channel == "zalo")
        session.execute(delete(Message).where(Message.conversation_id.in_(conversations)))
        session.execute(delete(Conversation).where(Conversation.channel == "zalo"))
        tickets = select(Ticket.id).where(Ticket.channel == "zalo")
        session.execute(delete(TicketEvent).where(TicketEvent.ticket_id.in_(tickets)))
        session.execute(delete(Ticket).where(Ticket.channel == "zalo"))
        contacts = list(
            session.scalars(
                select(ContactIdentity.contact_id).where(ContactIdentity.channel == "zalo")
            )
        )
        session.execute(delete(ContactIdentity).where(ContactIdentity.contact_id.in_(contacts)))
        session.execute(delete(Contact).where(Contact.id.in_(contacts)))
