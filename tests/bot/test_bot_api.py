"""The action server's API (/api/v1/bot) and the hand-off desk (/api/v1/conversations)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.models import Conversation, Direction, Message
from bot.notify import notice_buttons, notice_text
from feedback.models import SurveyResponse, Ticket, TicketEvent
from tests.feedback.helpers import route
from tests.images import resolve_body

REPORT = {
    "description": "Đèn đường trước số 12 Yersin tắt cả tuần nay",
    "category": "ha_tang_do_thi",
    "ward_code": "25747",
    "channel": "web",
}


@pytest.fixture
def admin(staff_token):
    return staff_token("admin")


@pytest.fixture
def file_for(client, db_session, service_headers):
    """File a routed ticket from a chat user, as the action server does."""

    def file(user: str, **extra) -> str:
        contact = {"channel": "web", "channel_user_id": user, "phone": "0912345678"}
        contact.update(phone_consent=True, **extra.pop("contact", {}))
        body = {**REPORT, **extra, "contact": contact}
        response = client.post("/api/v1/tickets", json=body, headers=service_headers)
        assert response.status_code == 201, response.text
        code: str = response.json()["code"]
        route(db_session, code)
        return code

    return file


def _resolve(client, headers, code: str) -> None:
    for action, body in (("start", {}), ("resolve", resolve_body("Đã thay bóng đèn."))):
        response = client.post(f"/api/v1/tickets/{code}/{action}", json=body, headers=headers)
        assert response.status_code == 200, response.text


def _rate(client, service_headers, code: str, **body):
    return client.post(f"/api/v1/bot/tickets/{code}/rating", json=body, headers=service_headers)


def test_a_chat_lists_its_own_tickets_without_personal_data(client, file_for, service_headers):
    mine = file_for("alice")
    file_for("bob")

    response = client.get(
        "/api/v1/bot/tickets", params={"sender": "web:alice"}, headers=service_headers
    )

    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["code"] for item in items] == [mine]
    assert items[0]["status"] == "assigned"
    assert "0912345678" not in response.text and "contact" not in items[0]


def _valid_tax_code(first_nine: str) -> str:
    from feedback.tax_codes import check_digit

    number = int(first_nine)
    while check_digit(f"{number:09d}") is None:
        number += 1
    return f"{number:09d}{check_digit(f'{number:09d}')}"


def test_a_firm_lists_its_tickets_once_it_has_filed_under_its_tax_code(
    client, file_for, service_headers
):
    firm = _valid_tax_code("031440905")
    other = _valid_tax_code("370012345")
    business = {"kind": "business", "company_name": "Công ty TNHH Sen Vàng"}

    def file(user: str, tax_code: str) -> str:
        return file_for(
            user,
            contact={"channel": "web", "channel_user_id": user, "tax_code": tax_code, **business},
        )

    by_manager = file("manager", firm)
    by_accountant = file("accountant", f"{firm}-001")  # a branch of the firm
    file("stranger", other)

    def listed(sender: str, tax_code: str):
        return client.get(
            "/api/v1/bot/tickets",
            params={"sender": sender, "tax_code": tax_code, "status": "all"},
            headers=service_headers,
        )

    head_office = listed("web:manager", firm)
    assert head_office.status_code == 200, head_office.text
    assert {i["code"] for i in head_office.json()["items"]} == {by_manager, by_accountant}
    branch = listed("web:accountant", f"{firm}001")
    assert [i["code"] for i in branch.json()["items"]] == [by_accountant]
    # A tax code is public: knowing it is not enough, the chat must have filed under it.
    assert listed("web:stranger", firm).status_code == 404
    assert listed("web:nobody", firm).status_code == 404
    refused = listed("web:manager", "0314409059")
    assert refused.status_code == 422 and "tax code" in refused.text


def test_a_resolved_ticket_is_rated_once_per_resolution(
    client, db_session, file_for, service_headers, admin
):
    code = file_for("alice")
    _resolve(client, admin, code)

    first = _rate(client, service_headers, code, sender="web:alice", score=3)
    again = _rate(client, service_headers, code, sender="web:alice", score=5)
    comment = _rate(client, service_headers, code, sender="web:alice", comment="Làm nhanh.")

    assert first.status_code == again.status_code == comment.status_code == 200
    ticket_id = db_session.scalar(select(Ticket.id).where(Ticket.code == code))
    surveys = db_session.scalars(
        select(SurveyResponse).where(SurveyResponse.ticket_id == ticket_id)
    ).all()
    assert [(s.score, s.comment) for s in surveys] == [(5, "Làm nhanh.")]
    kinds = db_session.scalars(
        select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket_id)
    ).all()
    assert kinds.count("rating") == 3
    assert comment.json()["status"] == "resolved"


def test_not_fixed_reopens_the_ticket_to_the_same_agency(
    client, db_session, file_for, service_headers, admin
):
    code = file_for("alice")
    _resolve(client, admin, code)
    agency_before = client.get(f"/api/v1/tickets/{code}", headers=admin).json()["agency"]

    response = _rate(client, service_headers, code, sender="web:alice", fixed=False)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "code": code,
        "score": 1,
        "fixed": False,
        "comment": None,
        "status": "reopened",
        "reopened": True,
    }
    ticket = client.get(f"/api/v1/tickets/{code}", headers=admin).json()
    assert ticket["status"] == "reopened" and ticket["agency"] == agency_before
    assert [e["kind"] for e in ticket["events"]][-2:] == ["rating", "reopen"]
    assert ticket["events"][-1]["actor"] == "citizen"


def test_one_chat_cannot_rate_anothers_ticket(client, file_for, service_headers, admin):
    code = file_for("alice")
    _resolve(client, admin, code)

    assert _rate(client, service_headers, code, sender="web:bob", score=1).status_code == 404
    assert _rate(client, service_headers, code, sender="zalo:alice", score=1).status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"sender": "web:alice", "score": 9}, 422),  # a forged button payload
        ({"sender": "web:alice", "score": 0}, 422),
        ({"sender": "alice", "score": 4}, 422),  # not <channel>:<user>
        ({"sender": "web:alice"}, 422),  # nothing to record
    ],
)
def test_bad_ratings_are_refused_with_a_reason(
    client, file_for, service_headers, admin, body, status
):
    code = file_for("alice")
    _resolve(client, admin, code)

    response = _rate(client, service_headers, code, **body)

    assert response.status_code == status
    assert response.json()["detail"]


def test_an_unresolved_ticket_cannot_be_rated_yet(client, file_for, service_headers):
    code = file_for("alice")

    response = _rate(client, service_headers, code, sender="web:alice", score=5)

    assert response.status_code == 409
    assert "resolved" in response.json()["detail"]


def test_the_bot_endpoints_answer_the_service_token_only(client, admin):
    assert client.get("/api/v1/bot/tickets", params={"sender": "web:a"}).status_code == 401
    refused = client.get("/api/v1/bot/tickets", params={"sender": "web:a"}, headers=admin)
    assert refused.status_code == 403


def test_a_resolution_notice_asks_for_a_rating(client, db_session, file_for, admin):
    code = file_for("alice")
    _resolve(client, admin, code)
    ticket = db_session.scalar(select(Ticket).where(Ticket.code == code))
    resolve = db_session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "resolve")
    ).one()

    buttons = notice_buttons(ticket, resolve)

    assert [b["title"] for b in buttons][-1] == "Chưa được xử lý"
    assert buttons[0]["payload"] == f'/rate{{"ticket_code": "{code}", "score": 5}}'


def test_after_the_resolution_a_reply_is_told_as_itself_and_a_note_is_not_told(
    client, db_session, file_for, admin, sent_tasks
):
    """The rating question goes with the resolution only: a public reply on a resolved ticket
    is told as that reply, and a private note tells the citizen nothing."""
    code = file_for("alice")
    _resolve(client, admin, code)
    sent_tasks.clear()
    for action, body in (
        ("reply", {"message": "Đội sẽ kiểm tra lại vào sáng mai.", "public": True}),
        ("note", {"message": "Ghi chú nội bộ."}),
    ):
        response = client.post(f"/api/v1/tickets/{code}/{action}", json=body, headers=admin)
        assert response.status_code == 200, response.text

    queued = [kwargs["event_id"] for name, kwargs in sent_tasks if name == "bot.notify_contact"]
    [reply] = db_session.scalars(select(TicketEvent).where(TicketEvent.id.in_(queued))).all()
    ticket = db_session.scalar(select(Ticket).where(Ticket.code == code))
    assert reply.kind == "reply"
    assert notice_text(ticket, reply) == (
        f"Phản hồi về phản ánh {code}: Đội sẽ kiểm tra lại vào sáng mai."
    )
    assert notice_buttons(ticket, reply) == []


# --- Hand-off ----------------------------------------------------------------------------------


@pytest.fixture
def conversation(db_session) -> Conversation:
    conversation = Conversation(channel="web", channel_user_id="carol")
    db_session.add(conversation)
    db_session.commit()
    return conversation


def test_hand_off_flags_the_conversation_for_the_desk(
    client, db_session, service_headers, staff_token, conversation
):
    dispatcher = staff_token("dispatcher")

    handed = client.post(
        "/api/v1/bot/handoff", json={"sender": "web:carol"}, headers=service_headers
    )
    waiting = client.get("/api/v1/conversations", headers=dispatcher)

    assert handed.status_code == 200 and handed.json()["handed_off"] is True
    assert [c["id"] for c in waiting.json()] == [conversation.id]


def test_staff_reply_and_hand_back(client, db_session, staff_token, conversation):
    dispatcher = staff_token("dispatcher")
    conversation.handed_off = True
    db_session.commit()

    reply = client.post(
        f"/api/v1/conversations/{conversation.id}/reply",
        json={"text": "Chào anh, tôi là cán bộ tiếp dân."},
        headers=dispatcher,
    )
    back = client.post(f"/api/v1/conversations/{conversation.id}/handback", headers=dispatcher)

    assert reply.status_code == 201 and back.json()["handed_off"] is False
    sent = db_session.scalars(
        select(Message).where(
            Message.conversation_id == conversation.id, Message.direction == Direction.OUTBOUND
        )
    ).all()
    # Both carry a channel id, which is what makes the web chat push them.
    assert [m.channel_message_id.startswith("staff:") for m in sent] == [True, True]


def test_agency_staff_and_the_bot_cannot_use_the_desk(
    client, staff_token, service_headers, conversation
):
    agency = staff_token("agency_staff", "SXD")

    assert client.get("/api/v1/conversations", headers=agency).status_code == 403
    assert client.get("/api/v1/conversations", headers=service_headers).status_code == 403
    unknown = client.post(
        "/api/v1/bot/handoff", json={"sender": "web:nobody"}, headers=service_headers
    )
    assert unknown.status_code == 404


def test_a_ticket_keeps_the_chat_photos_and_refuses_other_links(client, service_headers):
    photo = "/api/v1/webchat/photos/" + "a" * 32 + ".jpg"
    filed = client.post(
        "/api/v1/tickets", json={**REPORT, "photos": [photo]}, headers=service_headers
    )
    refused = client.post(
        "/api/v1/tickets",
        json={**REPORT, "photos": ["javascript:alert(1)"]},
        headers=service_headers,
    )

    assert filed.status_code == 201 and filed.json()["photos"] == [photo]
    assert refused.status_code == 422 and "photos" in refused.json()["detail"]


def test_a_resolution_shows_its_evidence_photo_to_the_citizen():
    from bot.notify import notice_image
    from feedback.models import TicketEvent

    photo = "/api/v1/webchat/photos/" + "b" * 32 + ".jpg"
    resolved = TicketEvent(
        kind="resolve", public=True, data={"attachments": ["/files/report.pdf", photo]}
    )
    assert notice_image(resolved) == photo
    assert notice_image(TicketEvent(kind="resolve", public=True, data={})) is None
    private_note = TicketEvent(kind="note", public=False, data={"attachments": [photo]})
    assert notice_image(private_note) is None


def test_a_conversation_id_past_bigint_is_a_clear_error(client, staff_token):
    dispatcher = staff_token("dispatcher")
    for path in ("/messages", "/reply", "/handback"):
        method = client.get if path == "/messages" else client.post
        kwargs = {"json": {"text": "chào"}} if path == "/reply" else {}
        answer = method(f"/api/v1/conversations/{10**20}{path}", headers=dispatcher, **kwargs)
        assert answer.status_code == 422, (path, answer.text)
