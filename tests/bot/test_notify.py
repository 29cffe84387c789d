"""Who hears about a ticket, and what they get: the citizen, and who follows it after a merge."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from bot import notify
from bot.models import Conversation, Message, MessageState
from feedback import attachments, service
from feedback.auth import SYSTEM
from feedback.models import Ticket, TicketEvent
from tests.feedback.helpers import file_and_route
from tests.images import tiny_png

REPORT = {
    "description": "Đèn đường trước số 12 Yersin tắt cả tuần nay",
    "category": "ha_tang_do_thi",
    "ward_code": "25747",
}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _act(db_session, code: str, action: str, payload: dict) -> Ticket:
    body = service.parse_action_body(action, payload)
    ticket = service.apply_action(db_session, code=code, action=action, body=body, principal=SYSTEM)
    db_session.commit()
    return ticket


def _notice(db_session, user: str) -> Message | None:
    return db_session.scalar(
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.channel_user_id == user, Message.channel_message_id.like("event:%"))
        .order_by(Message.id.desc())
    )


def test_a_resolution_reaches_the_citizen_and_who_follows_a_merged_duplicate(
    client, db_session, service_headers, sent_tasks
):
    users = [f"citizen-{secrets.token_hex(4)}" for _ in range(2)]
    for user in users:
        db_session.add(Conversation(channel="web", channel_user_id=user))
    codes = [
        file_and_route(
            client,
            db_session,
            service_headers,
            {**REPORT, "contact": {"channel": "web", "channel_user_id": user}},
        )
        for user in users
    ]
    original, duplicate = codes
    _act(db_session, duplicate, "merge", {"into": original})
    _act(db_session, original, "start", {})
    evidence = [attachments.save(tiny_png(), "png"), attachments.save_document(PDF, "pdf")]
    resolved = _act(
        db_session, original, "resolve", {"message": "Đã thay bóng.", "attachments": evidence}
    )
    event = db_session.scalars(
        select(TicketEvent).where(
            TicketEvent.ticket_id == resolved.id, TicketEvent.kind == "resolve"
        )
    ).one()

    assert notify.notify_contact(db_session, event_id=event.id) == 2
    assert notify.notify_contact(db_session, event_id=event.id) == 0  # a second run: nothing new

    own, follower = (_notice(db_session, user) for user in users)
    assert own is not None and follower is not None
    for notice in (own, follower):
        assert "Đã thay bóng." in (notice.text or "")
        assert notice.content["image"] == evidence[0]
        assert notice.content["documents"] == [evidence[1]]
        assert notice.state == MessageState.SENT  # the web chat: stored is delivered
    # Only the ticket's own citizen may rate it: the follower gets no rating buttons.
    assert own.content["buttons"] == notify.rating_buttons(original)
    assert follower.content["buttons"] == []


def test_a_resolution_shows_its_evidence_documents_with_the_notice():
    document = "/api/v1/documents/" + "d" * 32 + ".pdf"
    photo = "/api/v1/webchat/photos/" + "p" * 32 + ".jpg"
    resolved = TicketEvent(kind="resolve", public=True, data={"attachments": [photo, document]})
    assert notify.notice_documents(resolved) == [document]
    assert notify.notice_documents(TicketEvent(kind="reply", public=True, data={})) == []


def test_an_english_citizen_is_told_in_english(client, db_session, service_headers):
    """A firm that writes in English gets the platform's notices in English, the rating
    buttons' payloads unchanged; staff's own words are passed on as written."""
    user = f"citizen-{secrets.token_hex(4)}"
    db_session.add(Conversation(channel="web", channel_user_id=user, language="en"))
    report = {
        **REPORT,
        "description": "The street light near VSIP 1 gate is broken since last week",
        "contact": {"channel": "web", "channel_user_id": user},
    }
    code = file_and_route(client, db_session, service_headers, report)
    ticket = db_session.scalar(select(Ticket).where(Ticket.code == code))
    assert ticket is not None and ticket.language == "en"

    def told(action: str, payload: dict) -> Message:
        ticket = _act(db_session, code, action, payload)
        event = db_session.scalars(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == action)
            .order_by(TicketEvent.id.desc())
        ).first()
        assert event is not None
        assert notify.notify_contact(db_session, event_id=event.id) == 1
        notice = _notice(db_session, user)
        assert notice is not None
        return notice

    started = told("start", {})
    assert started.text == f"Your report {code} is being handled by the authorities."
    replied = told("reply", {"message": "Đội sẽ kiểm tra vào sáng mai.", "public": True})
    assert replied.text == f"Reply about your report {code}: Đội sẽ kiểm tra vào sáng mai."
    evidence = [attachments.save(tiny_png(), "png")]
    resolved = told("resolve", {"message": "Đã thay bóng.", "attachments": evidence})
    assert resolved.text == (
        f"Your report {code} has been resolved. Đã thay bóng.\n"
        "How would you rate the handling of this report?"
    )
    buttons = resolved.content["buttons"]
    assert buttons == notify.rating_buttons(code, "en")
    assert buttons[-1]["title"] == "Not fixed yet"
    assert [b["payload"] for b in buttons] == [b["payload"] for b in notify.rating_buttons(code)]


def test_a_vietnamese_citizen_is_still_told_in_vietnamese():
    ticket = Ticket(code="PA7K3M9QXT")
    started = TicketEvent(kind="start", public=True, data={})
    assert notify.notice_text(ticket, started) == (
        "Phản ánh PA7K3M9QXT đang được cơ quan chức năng xử lý."
    )
    assert notify.notice_text(ticket, started, "vi") == notify.notice_text(ticket, started)


def test_a_notice_whose_job_was_lost_is_found_again_until_it_is_written(
    client, db_session, service_headers, sent_tasks
):
    """The broker was down when staff acted: the `bot.notify_contact` job never left. Beat's
    sweep (bot.notify_missed_events) finds the event once the job should have run, and no
    longer once the notice is written; a note, which the citizen is not told of, never."""
    from datetime import timedelta

    from core.database import utcnow

    user = f"citizen-{secrets.token_hex(4)}"
    db_session.add(Conversation(channel="web", channel_user_id=user))
    code = file_and_route(
        client,
        db_session,
        service_headers,
        {**REPORT, "contact": {"channel": "web", "channel_user_id": user}},
    )
    ticket = _act(db_session, code, "start", {})
    _act(db_session, code, "note", {"message": "Gọi điện lực trước."})
    started, noted = db_session.scalars(
        select(TicketEvent.id)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind.in_(["start", "note"]))
        .order_by(TicketEvent.id)
    ).all()
    sent_tasks.clear()  # the jobs are lost

    now = utcnow()
    assert started not in notify.missed_notices(db_session, now=now)  # its job may still run
    later = now + notify.MISSED_AFTER + timedelta(seconds=1)
    missed = notify.missed_notices(db_session, now=later)
    assert started in missed and noted not in missed

    assert notify.notify_contact(db_session, event_id=started) == 1
    assert started not in notify.missed_notices(db_session, now=later)
    assert _notice(db_session, user) is not None
