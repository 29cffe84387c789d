"""How many tickets one chat and one person may open in a while.

Counted in the database (the tickets themselves), so every replica and worker sees the same
count. Staff filing at the desk are never limited: one desk files for many people. Settings:
TIEPDAN_LIMIT_TICKETS_PER_SESSION (one chat: a web-chat session, a Telegram or Zalo user) and
TIEPDAN_LIMIT_TICKETS_PER_CONTACT (one phone number, whichever chat it writes from).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from core.errors import TooMany
from core.rates import Rate, parse_rate
from core.settings import get_settings
from feedback.models import Contact, Ticket

TOO_MANY_TICKETS = (
    "Bạn đã gửi {count} phản ánh trong thời gian ngắn. Để cán bộ kịp tiếp nhận, bạn vui lòng "
    "gửi phản ánh mới sau khoảng {minutes} phút. Những gì bạn vừa nhắn vẫn được lưu lại."
)


def check_ticket_quota(session: Session, contact: Contact, *, now: datetime) -> None:
    """Raise TooMany when this contact's chat, or its phone number, has opened its quota."""
    settings = get_settings()
    if contact.id is not None:
        _check(
            session,
            parse_rate(settings.limit_tickets_per_session),
            Ticket.contact_id == contact.id,
            now=now,
        )
    if contact.phone:
        _check(
            session,
            parse_rate(settings.limit_tickets_per_contact),
            Ticket.contact_id.in_(select(Contact.id).where(Contact.phone == contact.phone)),
            now=now,
        )


def _check(
    session: Session, rate: Rate | None, whose: ColumnElement[bool], *, now: datetime
) -> None:
    if rate is None:
        return
    since = now - timedelta(seconds=rate.seconds)
    count, oldest = session.execute(
        select(func.count(), func.min(Ticket.created_at)).where(whose, Ticket.created_at > since)
    ).one()
    if count < rate.amount:
        return
    retry_after = (oldest + timedelta(seconds=rate.seconds) - now).total_seconds()
    raise TooMany(
        TOO_MANY_TICKETS.format(count=count, minutes=max(1, round(retry_after / 60))),
        retry_after=retry_after,
    )
