"""Contacts are their citizen's: every path that writes one, and who may change it."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select

from feedback import citizen
from feedback.citizen import Identity
from feedback.models import Contact, ContactIdentity, Ticket


def _file(client, headers, **fields):
    response = client.post(
        "/api/v1/tickets", json={"description": "Đèn đường hỏng", **fields}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def _identity() -> dict[str, str]:
    return {"channel": "telegram", "channel_user_id": str(secrets.randbelow(10**12))}


def _contact_of(db_session, identity: dict[str, str]) -> Contact:
    return db_session.scalars(
        select(Contact)
        .join(ContactIdentity)
        .where(
            ContactIdentity.channel == identity["channel"],
            ContactIdentity.channel_user_id == identity["channel_user_id"],
        )
    ).one()


def test_the_bot_files_for_a_chat_under_its_identity_and_keeps_its_details(
    client, db_session, service_headers, sent_tasks
):
    identity = _identity()
    first = _file(client, service_headers, contact={**identity, "name": "Trần Thị Bình"})
    again = _file(
        client,
        service_headers,
        contact={**identity, "phone": "0912345678", "phone_consent": True},
    )

    contact = _contact_of(db_session, identity)
    assert (contact.name, contact.phone) == ("Trần Thị Bình", "0912345678")  # their own chat
    assert first["channel"] == again["channel"] == "telegram"
    codes = {t.code for t in citizen.own_tickets(db_session, Identity(**identity))}
    assert codes == {first["code"], again["code"]}


def test_staff_naming_a_citizens_identity_never_change_or_join_their_contact(
    client, db_session, service_headers, staff_token, sent_tasks
):
    identity = _identity()
    _file(client, service_headers, contact={**identity, "name": "Trần Thị Bình"})
    contacts = db_session.scalar(select(func.count()).select_from(Contact))

    desk = _file(
        client,
        staff_token("agency_staff", "SXD"),
        contact={**identity, "name": "Kẻ Mạo Danh", "phone": "0987654321", "phone_consent": True},
    )

    contact = _contact_of(db_session, identity)
    assert (contact.name, contact.phone) == ("Trần Thị Bình", None)  # untouched
    assert desk["contact"]["name"] == "Kẻ Mạo Danh"  # the desk's own, new contact
    assert desk["channel"] is None
    assert db_session.scalar(select(func.count()).select_from(Contact)) == contacts + 1
    desk_ticket = db_session.scalars(select(Ticket).where(Ticket.code == desk["code"])).one()
    assert desk_ticket.contact_id != contact.id
    # The citizen's chat does not get a report it did not file.
    mine = {t.code for t in citizen.own_tickets(db_session, Identity(**identity))}
    assert desk["code"] not in mine


def test_a_desk_ticket_without_an_identity_gets_a_contact_of_its_own(
    client, db_session, staff_token, sent_tasks
):
    desk = _file(
        client,
        staff_token("dispatcher"),
        contact={"name": "Ông Lâm (gọi 1022)", "phone": "0909000111", "phone_consent": True},
    )
    assert desk["contact"]["name"] == "Ông Lâm (gọi 1022)"
    ticket = db_session.scalars(select(Ticket).where(Ticket.code == desk["code"])).one()
    identities = db_session.scalar(
        select(func.count())
        .select_from(ContactIdentity)
        .where(ContactIdentity.contact_id == ticket.contact_id)
    )
    assert identities == 0
