"""Contacts: the citizen or firm behind a ticket, and the channel identities they write from.

A channel identity (web chat session, Telegram chat, Zalo user) is one contact: a second report
from the same identity joins the contact of the first.

A contact is its citizen's: only what comes from their own channel (the bot acting for that
chat, or the gateway filing from it) may join it or change its name and phone. A ticket staff
file at a desk gets a contact of its own, even when it names a channel identity, so that no
account can rewrite a citizen's details or put a report in their chat ("phản ánh của tôi").
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from feedback.auth import Principal
from feedback.models import Contact, ContactIdentity, Ticket
from feedback.schemas import ContactIn


def find_or_create_contact(session: Session, data: ContactIn, *, actor: Principal) -> Contact:
    """The contact of this channel identity, brought up to date, or a new one. Staff always get
    a new contact without the identity (see the module's rule)."""
    if actor.kind == "staff":
        contact = Contact(kind=data.kind)
        _update_contact(contact, data)
        session.add(contact)
        set_committed_value(contact, "identities", [])
        return contact
    if data.channel and data.channel_user_id:
        known = session.scalar(
            select(Contact)
            .join(ContactIdentity)
            .where(
                ContactIdentity.channel == data.channel,
                ContactIdentity.channel_user_id == data.channel_user_id,
            )
        )
        if known is not None:
            _update_contact(known, data)
            return known
    contact = Contact(kind=data.kind)
    _update_contact(contact, data)
    session.add(contact)
    if data.channel and data.channel_user_id:
        # Through the relationship, so one flush writes the contact, its identity and the ticket.
        set_committed_value(contact, "identities", [])
        contact.identities.append(
            ContactIdentity(channel=data.channel, channel_user_id=data.channel_user_id)
        )
    return contact


def _update_contact(contact: Contact, data: ContactIn) -> None:
    contact.kind = data.kind
    for field in ("name", "company_name", "tax_code"):
        value = getattr(data, field)
        if value:
            setattr(contact, field, value)
    if data.phone and data.phone_consent:
        contact.phone = data.phone
        contact.phone_consent = True


def contacts_to_tell(session: Session, ticket: Ticket) -> list[int]:
    """Who follows this ticket: its own contact, then the contacts of the duplicates merged
    into it (bot/notify.py tells each of them)."""
    merged = session.scalars(
        select(Ticket.contact_id)
        .where(
            Ticket.duplicate_of_id == ticket.id,
            Ticket.merged_at.is_not(None),
            Ticket.contact_id.is_not(None),
        )
        .order_by(Ticket.id)
    )
    ids = [ticket.contact_id] if ticket.contact_id is not None else []
    return list(dict.fromkeys([*ids, *(c for c in merged if c is not None)]))
