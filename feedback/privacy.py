"""Forgetting a person (Vietnam's Decree 13/2023 on personal data): the feedback side.

What a person asked us to forget goes; what the province needs to keep working and to count
stays. Here:

- their contacts lose the name, the phone and (for a citizen) a personal tax code. A firm's
  name and tax code (MST) stay: they are not a natural person's data, and the firm's reports
  stay listed under its code (`GET /api/v1/bot/tickets?tax_code=`);
- their channel identities are deleted, so no chat can be linked back to the contact (nothing
  refers to an identity row);
- their tickets keep the problem: the description is what staff work an open ticket from, so
  phone numbers and the contact's name inside it are masked rather than the text deleted; the
  same goes for the messages of the ticket's history (a staff reply "Chào anh Nguyễn Văn An").
  The address, ward and position stay: they say where the problem is;
- the photos they sent are deleted from disk and from their tickets (staff evidence stays);
- a rating keeps its score and its "fixed" answer, its free-text comment goes.

Ticket rows, categories, wards, agencies, timestamps, SLA and scores are untouched, so every KPI
reads the same before and after. The conversations and the Rasa tracker are the bot's
(bot/privacy.py), which calls this module: `feedback` imports no `bot`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from feedback import attachments
from feedback.models import (
    Contact,
    ContactIdentity,
    ContactKind,
    SurveyResponse,
    Ticket,
    TicketEvent,
)

# What stands where a person's words were.
REMOVED = "[đã xoá theo yêu cầu của người dân]"
PHONE_REMOVED = "[số điện thoại đã xoá]"
NAME_REMOVED = "[tên đã xoá]"

# Vietnamese phone numbers, as core/logging.py masks them in logs: 0xx or +84xx, 9-11 digits,
# separators allowed. A house number ("số 12") is too short to match.
_PHONE = re.compile(r"(?<!\d)(?:\+?84|0)(?:[\s.\-]?\d){8,10}(?!\d)")


def phone_variants(phone: str) -> list[str]:
    """The ways one number may be stored: digits only, and 0… or +84… for the same line."""
    digits = re.sub(r"[^\d+]", "", phone)
    national = re.sub(r"^(\+?84)", "0", digits)
    return list(dict.fromkeys([digits, national, "+84" + national[1:], "84" + national[1:]]))


def mask_text(text: str, *, names: Iterable[str] = ()) -> str:
    """`text` with every phone number and each of `names` (whole words, any case) masked."""
    masked = _PHONE.sub(PHONE_REMOVED, text)
    for name in sorted({n.strip() for n in names if n and n.strip()}, key=len, reverse=True):
        pattern = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)", re.IGNORECASE)
        masked = pattern.sub(NAME_REMOVED, masked)
    return masked


def find_contacts(
    session: Session,
    *,
    phone: str | None = None,
    channel: str | None = None,
    channel_user_id: str | None = None,
    ticket_code: str | None = None,
) -> list[Contact]:
    """The contacts of one person, found by one selector, then by the phone numbers they gave:
    the same consented number on two channels is the same person (the ticket quota counts it so).
    """
    query = select(Contact)
    if phone is not None:
        query = query.where(Contact.phone.in_(phone_variants(phone)))
    elif channel is not None and channel_user_id is not None:
        query = query.join(ContactIdentity).where(
            ContactIdentity.channel == channel, ContactIdentity.channel_user_id == channel_user_id
        )
    elif ticket_code is not None:
        query = query.join(Ticket, Ticket.contact_id == Contact.id).where(
            Ticket.code == ticket_code
        )
    else:
        raise ValueError("one selector is needed")
    found = list(session.scalars(query))
    phones = [v for c in found if c.phone for v in phone_variants(c.phone)]
    if phones:
        found += session.scalars(
            select(Contact).where(
                Contact.phone.in_(phones), Contact.id.not_in([c.id for c in found])
            )
        )
    return sorted(found, key=lambda c: c.id)


def contact_identities(session: Session, contact_ids: list[int]) -> list[tuple[str, str]]:
    """The (channel, channel user id) pairs these contacts write from."""
    rows = session.execute(
        select(ContactIdentity.channel, ContactIdentity.channel_user_id).where(
            ContactIdentity.contact_id.in_(contact_ids)
        )
    )
    return [(channel, user) for channel, user in rows]


def personal_names(contacts: Iterable[Contact]) -> list[str]:
    """The names to mask in these contacts' texts (read before they are forgotten)."""
    return [c.name for c in contacts if c.name]


@dataclass
class ContactsForgotten:
    """What forgetting changed, in counts, and the files to delete (paths, never shown)."""

    contacts: int = 0
    identities: int = 0
    tickets: int = 0
    ticket_texts: int = 0
    comments: int = 0
    photos: int = 0
    files: list[Path] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "contacts": self.contacts,
            "identities": self.identities,
            "tickets": self.tickets,
            "ticket_texts_masked": self.ticket_texts,
            "comments_removed": self.comments,
            "photos_removed": self.photos,
        }


def forget_contacts(
    session: Session, contacts: list[Contact], *, names: list[str]
) -> ContactsForgotten:
    """Anonymise these contacts, their identities and their tickets (the module says what
    goes and what stays). Running it again changes nothing more."""
    done = ContactsForgotten()
    ids = [c.id for c in contacts]
    if not ids:
        return done
    for contact in contacts:
        personal_tax_code = contact.kind == ContactKind.CITIZEN and contact.tax_code is not None
        if contact.name or contact.phone or contact.phone_consent or personal_tax_code:
            done.contacts += 1
        contact.name = None
        contact.phone = None
        contact.phone_consent = False
        if contact.kind == ContactKind.CITIZEN:
            contact.tax_code = None
            contact.company_name = None
    done.identities = len(contact_identities(session, ids))
    session.execute(delete(ContactIdentity).where(ContactIdentity.contact_id.in_(ids)))

    tickets = list(session.scalars(select(Ticket).where(Ticket.contact_id.in_(ids))))
    done.tickets = len(tickets)
    for ticket in tickets:
        masked = mask_text(ticket.description, names=names)
        if masked != ticket.description:
            # updated_at stays: the KPI aggregates re-read a ticket when it moves, and this
            # changes nothing they count.
            ticket.description = masked
            done.ticket_texts += 1
        kept, removed, files = _without_own_photos(ticket.attachments or [])
        if removed:
            ticket.attachments = kept
            done.photos += removed
            done.files += files
    ticket_ids = [t.id for t in tickets]
    if ticket_ids:
        for event in session.scalars(
            select(TicketEvent).where(
                TicketEvent.ticket_id.in_(ticket_ids), TicketEvent.message.is_not(None)
            )
        ):
            assert event.message is not None
            masked = mask_text(event.message, names=names)
            if masked != event.message:
                event.message = masked
                done.ticket_texts += 1
        for survey in session.scalars(
            select(SurveyResponse).where(
                SurveyResponse.ticket_id.in_(ticket_ids),
                SurveyResponse.comment.is_not(None),
                SurveyResponse.comment != REMOVED,
            )
        ):
            survey.comment = REMOVED
            done.comments += 1
    session.flush()
    return done


def _without_own_photos(
    items: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], int, list[Path]]:
    """A ticket's attachments without the photos the person sent, how many went, and the files
    of those stored here. A photo linked on another host (TIEPDAN_PHOTO_HOSTS) leaves the
    ticket too; its file is not ours to delete."""
    kept: list[dict[str, Any]] = []
    removed = 0
    files: list[Path] = []
    for item in items:
        url = str(item.get("url") or "")
        if item.get("type") == "photo" and attachments.is_photo_url(url):
            removed += 1
            if (path := photo_file(url)) is not None:
                files.append(path)
        elif item.get("type") == "photo" and url.startswith("https://"):
            removed += 1
        else:
            kept.append(item)
    return kept, removed, files


def photo_file(url: str) -> Path | None:
    """The file on disk of a photo stored here, by its URL; None for anything else."""
    if not attachments.is_photo_url(url):
        return None
    return attachments.path_of(url[len(attachments.URL_PREFIX) :])


def delete_files(paths: Iterable[Path]) -> int:
    """Delete these files; a file already gone is fine (a second run). How many were deleted."""
    deleted = 0
    for path in paths:
        try:
            path.unlink()
            deleted += 1
        except FileNotFoundError:
            pass
    return deleted
