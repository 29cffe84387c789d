"""Tell citizens what happened to their ticket, on the channel they wrote from.

A staff reply, a resolution, a rejection or the start of the work becomes an outbound message
in each of the contact's conversations. The message's channel id is `event:<id>`, so running
the task twice writes it once. On the web chat, storing the message is delivering it (the
chat's WebSocket pushes it); on Telegram and Zalo it is queued for bot/delivery.py.

A notice is worded in the conversation's language (Vietnamese, or English for the firms that
write in English: `Conversation.language`); what staff wrote is passed on as they wrote it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, and_, cast, exists, literal, select, tuple_
from sqlalchemy.orm import Session

from bot.delivery import add_outbound
from bot.models import Conversation, Message
from feedback.attachments import is_document_url, is_photo_url
from feedback.contacts import contacts_to_tell
from feedback.language import ENGLISH
from feedback.models import ContactIdentity, Ticket, TicketEvent
from feedback.service import tells_citizen
from integrations.channel import Reply

RATING_QUESTION = "Bạn đánh giá thế nào về việc xử lý phản ánh này?"
RATING_QUESTION_EN = "How would you rate the handling of this report?"


def notice_text(ticket: Ticket, event: TicketEvent, language: str = "vi") -> str:
    """The citizen-facing text for an event, in Vietnamese or in English."""
    if language == ENGLISH:
        return _notice_text_english(ticket, event)
    code = ticket.code
    if event.kind == "resolve":
        text = f"Phản ánh {code} đã được xử lý xong."
        if event.message and event.public:
            text = f"{text} {event.message}"
        return f"{text}\n{RATING_QUESTION}"
    if event.kind == "reject":
        return f"Phản ánh {code} không được tiếp nhận xử lý. Lý do: {event.message}"
    if event.kind == "start":
        return f"Phản ánh {code} đang được cơ quan chức năng xử lý."
    return f"Phản hồi về phản ánh {code}: {event.message}"


def _notice_text_english(ticket: Ticket, event: TicketEvent) -> str:
    code = ticket.code
    if event.kind == "resolve":
        text = f"Your report {code} has been resolved."
        if event.message and event.public:
            text = f"{text} {event.message}"
        return f"{text}\n{RATING_QUESTION_EN}"
    if event.kind == "reject":
        return f"Your report {code} was not accepted for handling. Reason: {event.message}"
    if event.kind == "start":
        return f"Your report {code} is being handled by the authorities."
    return f"Reply about your report {code}: {event.message}"


def rating_buttons(code: str, language: str = "vi") -> list[dict[str, str]]:
    """Scores 5 to 1 and "not fixed"; the payloads are Rasa intents with the code, the titles in
    the conversation's language."""
    buttons = [
        {"title": "⭐" * score, "payload": f'/rate{{"ticket_code": "{code}", "score": {score}}}'}
        for score in range(5, 0, -1)
    ]
    not_fixed = "Not fixed yet" if language == ENGLISH else "Chưa được xử lý"
    buttons.append(
        {"title": not_fixed, "payload": f'/rate{{"ticket_code": "{code}", "fixed": false}}'}
    )
    return buttons


def notice_image(event: TicketEvent) -> str | None:
    """The first photo of a resolution's evidence (the event's `data["attachments"]`)."""
    photos = [url for url in (event.data or {}).get("attachments", []) if is_photo_url(url)]
    return photos[0] if event.kind == "resolve" and event.public and photos else None


def notice_documents(event: TicketEvent) -> list[str]:
    """The documents (PDF) of a resolution's evidence, shown to the citizen with the notice."""
    if event.kind != "resolve" or not event.public:
        return []
    return [url for url in (event.data or {}).get("attachments", []) if is_document_url(url)]


def notice_buttons(
    ticket: Ticket, event: TicketEvent, language: str = "vi"
) -> list[dict[str, str]]:
    """A resolution asks for a rating."""
    if event.kind == "resolve":
        return rating_buttons(ticket.code, language)
    return []


def notify_contact(session: Session, *, event_id: int) -> int:
    """Write the notice into the conversations of everyone who follows the ticket (its citizen,
    and the citizens of duplicates merged into it) and queue it on their channels; returns how
    many were new (a second run of the task finds them written)."""
    event = session.get(TicketEvent, event_id)
    if event is None:
        return 0
    ticket = session.get_one(Ticket, event.ticket_id)
    contact_ids = contacts_to_tell(session, ticket)
    if not contact_ids:
        return 0
    identities = session.execute(
        select(
            ContactIdentity.contact_id, ContactIdentity.channel, ContactIdentity.channel_user_id
        ).where(ContactIdentity.contact_id.in_(contact_ids))
    ).all()
    contact_of = {(channel, user): contact for contact, channel, user in identities}
    if not contact_of:
        return 0
    conversations = session.scalars(
        select(Conversation).where(
            tuple_(Conversation.channel, Conversation.channel_user_id).in_(list(contact_of))
        )
    ).all()
    key = notice_key(event.id)
    written = 0
    for conversation in conversations:
        exists = session.scalar(
            select(Message.id).where(
                Message.conversation_id == conversation.id, Message.channel_message_id == key
            )
        )
        if exists is not None:
            continue
        # Only the ticket's own citizen may rate it; who follows a merged duplicate is told.
        own = contact_of[(conversation.channel, conversation.channel_user_id)] == ticket.contact_id
        language = conversation.language
        notice = Reply(
            text=notice_text(ticket, event, language),
            buttons=notice_buttons(ticket, event, language) if own else [],
            image=notice_image(event),
            documents=notice_documents(event),
        )
        add_outbound(
            session,
            conversation,
            notice,
            channel_message_id=key,
            ticket_code=ticket.code,
            extra={"event": event.kind},
        )
        written += 1
    return written


def notice_key(event_id: int) -> str:
    """The channel message id of an event's notice: one per conversation, however often the
    task runs."""
    return f"event:{event_id}"


# An event's notice is written by its job within moments; one still missing this long after
# is looked for again (a second job writes nothing twice: the notice's key is unique).
MISSED_AFTER = timedelta(seconds=10)
# How far back: past this, a notice is stale news (and the broker was down for a day).
MISSED_LOOKBACK = timedelta(days=1)


def missed_notices(session: Session, *, now: datetime) -> list[int]:
    """Events the citizen should have been told of and was not: their `bot.notify_contact` job
    was lost (the broker was down when it was queued, or the database while it ran).

    Only tickets of a contact who writes on a channel, changed in the lookback (the tickets'
    `updated_at` index, not a scan of every event), and only events with no notice in that
    contact's own conversations (the messages' unique key, per conversation)."""
    noticed = exists(
        select(Message.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(
            ContactIdentity,
            and_(
                ContactIdentity.channel == Conversation.channel,
                ContactIdentity.channel_user_id == Conversation.channel_user_id,
            ),
        )
        .where(
            ContactIdentity.contact_id == Ticket.contact_id,
            Message.channel_message_id == literal("event:") + cast(TicketEvent.id, String),
        )
    )
    chats = exists(
        select(ContactIdentity.id).where(ContactIdentity.contact_id == Ticket.contact_id)
    )
    since, before = now - MISSED_LOOKBACK, now - MISSED_AFTER
    events = session.scalars(
        select(TicketEvent)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(
            Ticket.updated_at >= since,
            Ticket.contact_id.is_not(None),
            TicketEvent.created_at >= since,
            TicketEvent.created_at < before,
            chats,
            ~noticed,
        )
        .order_by(TicketEvent.id)
        .limit(500)
    ).all()
    return [event.id for event in events if tells_citizen(event)]
