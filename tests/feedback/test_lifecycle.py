"""The ticket status machine, driven through `POST /api/v1/tickets/{code}/{action}`.

new → triage | assigned → in_progress → resolved → closed; resolved → reopened → in_progress;
any open status → rejected (with a reason); a transfer keeps the status and changes the agency.
"""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
import pytest
from sqlalchemy import func, select

from feedback.models import Agency, StaffUser, Ticket, TicketEvent
from feedback.schemas import ACTION_BODIES
from feedback.sla import get_calendar
from tests.feedback.helpers import route
from tests.images import resolve_body

# ha_tang_do_thi is a city-level category: routed to Sở Xây dựng whatever the ward.
CITY_REPORT = {
    "description": "Đèn đường trước số 12 Yersin tắt cả tuần nay",
    "ward_code": "25747",
    "category": "ha_tang_do_thi",
}
# No category and the NoClassifier: the router sends it to the dispatchers' triage queue.
UNCATEGORISED_REPORT = {"description": "Có chuyện cần phản ánh, nhờ cán bộ xem giúp"}

STATUSES = [
    "new",
    "triage",
    "assigned",
    "in_progress",
    "resolved",
    "reopened",
    "closed",
    "rejected",
]
OPEN = {"new", "triage", "assigned", "in_progress", "reopened"}

# The legal (action → statuses) table, written from DESIGN.md rather than imported from
# feedback.lifecycle, so that a change to the machine has to change this test too.
LEGAL = {
    "assign": {"new", "triage"},
    "start": {"assigned", "reopened"},
    "reply": {"triage", "assigned", "in_progress", "reopened", "resolved"},
    "transfer": {"assigned", "in_progress", "reopened"},
    "resolve": {"in_progress"},
    "reject": OPEN,
    "reopen": {"resolved"},
    "close": {"resolved"},
    "note": set(STATUSES),
    "assign_staff": {"assigned", "in_progress", "reopened"},
    "recategorize": {"triage", "assigned", "in_progress", "reopened"},
    "merge": OPEN,
}
# Their bodies name another ticket or a person: tests/feedback/test_ticket_work.py has them.
OUTSIDE_THE_MATRIX = {"assign_staff", "recategorize", "merge"}

# A valid body for each action, so that only the status can make the action fail.
BODIES = {
    "assign": {"agency": "SCT", "category": "dien_nuoc"},
    "start": {},
    "reply": {"message": "Đã tiếp nhận, sẽ kiểm tra trong tuần."},
    "transfer": {"agency": "SCT"},
    "resolve": resolve_body("Đã thay bóng đèn."),
    "reject": {"reason": "Không thuộc thẩm quyền giải quyết."},
    "reopen": {},
    "close": {},
    "note": {"message": "Ghi chú nội bộ"},
}

# From `assigned` (a routed CITY_REPORT), the admin's actions that reach each later status.
STEPS_FROM_ASSIGNED = {
    "assigned": [],
    "in_progress": ["start"],
    "resolved": ["start", "resolve"],
    "reopened": ["start", "resolve", "reopen"],
    "closed": ["start", "resolve", "close"],
    "rejected": ["reject"],
}


def file_ticket(client, headers, report=CITY_REPORT) -> str:
    response = client.post("/api/v1/tickets", json=report, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["code"]


def act(client, headers, code: str, action: str, body: dict | None = None):
    return client.post(f"/api/v1/tickets/{code}/{action}", json=body, headers=headers)


def act_ok(client, headers, code: str, action: str, body: dict | None = None) -> dict:
    response = act(client, headers, code, action, BODIES[action] if body is None else body)
    assert response.status_code == 200, response.text
    return response.json()


def reload(db_session, code: str) -> Ticket:
    """The ticket as stored, not as the identity map remembers it."""
    db_session.expire_all()
    return db_session.scalars(select(Ticket).where(Ticket.code == code)).one()


def event_count(db_session, code: str) -> int:
    return db_session.scalar(
        select(func.count()).select_from(TicketEvent).join(Ticket).where(Ticket.code == code)
    )


def events_of(db_session, code: str) -> list[TicketEvent]:
    return list(
        db_session.scalars(
            select(TicketEvent).join(Ticket).where(Ticket.code == code).order_by(TicketEvent.id)
        )
    )


def agency_code(db_session, agency_id: int | None) -> str | None:
    return db_session.get(Agency, agency_id).code if agency_id else None


def username_of(db_session, headers: dict[str, str]) -> str:
    token = headers["Authorization"].removeprefix("Bearer ")
    user_id = int(jwt.decode(token, options={"verify_signature": False})["sub"])
    return db_session.get_one(StaffUser, user_id).username


@pytest.fixture
def admin(staff_token, db_session) -> dict[str, str]:
    headers = staff_token("admin")
    db_session.commit()  # keep the user when a request that fails rolls back
    return headers


@pytest.fixture
def ticket_in(client, db_session, admin, service_headers):
    """ticket_in(status): a ticket brought to `status` the way it happens in real life."""

    def make(status: str) -> str:
        if status == "new":
            return file_ticket(client, service_headers)
        if status == "triage":
            code = file_ticket(client, service_headers, UNCATEGORISED_REPORT)
            route(db_session, code)
            return code
        code = file_ticket(client, service_headers)
        route(db_session, code)
        for action in STEPS_FROM_ASSIGNED[status]:
            act_ok(client, admin, code, action)
        assert reload(db_session, code).status.value == status
        return code

    return make


def test_routing_a_categorised_ticket_assigns_it_and_records_the_system(
    client, db_session, service_headers, admin
):
    code = file_ticket(client, service_headers)
    route(db_session, code)

    ticket = client.get(f"/api/v1/tickets/{code}", headers=admin).json()
    assert (ticket["status"], ticket["agency"]) == ("assigned", "SXD")
    assert [
        (e["kind"], e["from_status"], e["to_status"], e["actor"]) for e in ticket["events"]
    ] == [
        ("created", None, "new", "service"),
        ("routed", "new", "assigned", "system"),
    ]


def test_routing_an_uncategorised_ticket_sends_it_to_triage(
    client, db_session, service_headers, admin
):
    code = file_ticket(client, service_headers, UNCATEGORISED_REPORT)
    route(db_session, code)

    ticket = client.get(f"/api/v1/tickets/{code}", headers=admin).json()
    assert (ticket["status"], ticket["agency"], ticket["sla_due_at"]) == ("triage", None, None)
    assert ticket["events"][-1]["kind"] == "triaged"
    assert ticket["events"][-1]["actor"] == "system"


def test_the_main_path_to_closed_sets_each_time_and_records_each_step(
    client, db_session, service_headers, staff_token
):
    staff = staff_token("agency_staff", "SXD")
    db_session.commit()
    actor = username_of(db_session, staff)
    code = file_ticket(client, service_headers)
    route(db_session, code)
    before = datetime.now(UTC)

    started = act_ok(client, staff, code, "start")
    assert started["status"] == "in_progress"
    assert started["first_response_at"] is None  # starting work is not an answer to the citizen

    resolved = act_ok(client, staff, code, "resolve", resolve_body("Đã thay bóng đèn."))
    assert resolved["status"] == "resolved"
    assert resolved["first_response_at"] is not None
    assert resolved["resolved_at"] is not None and resolved["closed_at"] is None

    closed = act_ok(client, staff, code, "close")
    assert closed["status"] == "closed"

    stored = reload(db_session, code)
    after = datetime.now(UTC)
    assert before <= stored.first_response_at <= stored.resolved_at <= stored.closed_at <= after
    assert stored.first_response_at == stored.resolved_at  # the resolution was the first answer
    steps = [(e["kind"], e["from_status"], e["to_status"], e["actor"]) for e in closed["events"]]
    assert steps == [
        ("created", None, "new", "service"),
        ("routed", "new", "assigned", "system"),
        ("start", "assigned", "in_progress", actor),
        ("resolve", "in_progress", "resolved", actor),
        ("close", "resolved", "closed", actor),
    ]
    assert closed["events"][3]["message"] == "Đã thay bóng đèn."
    assert all(e["agency"] == "SXD" for e in closed["events"][1:])


def test_a_dispatcher_assigns_a_triaged_ticket_with_a_category_and_its_sla(
    client, db_session, service_headers, staff_token
):
    dispatcher = staff_token("dispatcher")
    db_session.commit()
    code = file_ticket(client, service_headers, UNCATEGORISED_REPORT)
    route(db_session, code)

    ticket = act_ok(client, dispatcher, code, "assign", {"agency": "SYT", "category": "y_te"})

    assert (ticket["status"], ticket["agency"], ticket["category"]) == ("assigned", "SYT", "y_te")
    stored = reload(db_session, code)
    assert stored.sla_due_at == get_calendar().due_at(stored.created_at, 5)  # y_te: 5 days
    last = ticket["events"][-1]
    assert (last["kind"], last["from_status"], last["to_status"]) == (
        "assign",
        "triage",
        "assigned",
    )
    assert (last["agency"], last["actor"]) == ("SYT", username_of(db_session, dispatcher))


def test_assigning_a_triaged_ticket_without_a_category_is_refused(
    client, db_session, service_headers, admin
):
    code = file_ticket(client, service_headers, UNCATEGORISED_REPORT)
    route(db_session, code)
    events = event_count(db_session, code)

    response = act(client, admin, code, "assign", {"agency": "SYT"})

    assert response.status_code == 422
    assert "category" in response.json()["detail"]
    stored = reload(db_session, code)
    assert (stored.status.value, stored.agency_id) == ("triage", None)
    assert event_count(db_session, code) == events


def test_a_new_ticket_assigned_by_hand_is_left_alone_by_the_router(
    client, db_session, service_headers, admin
):
    code = file_ticket(client, service_headers)

    act_ok(client, admin, code, "assign", {"agency": "UBND_25747"})
    route(db_session, code)

    stored = reload(db_session, code)
    assert stored.status.value == "assigned"
    assert agency_code(db_session, stored.agency_id) == "UBND_25747"
    assert [e.kind for e in events_of(db_session, code)] == ["created", "assign"]


def test_reopen_clears_the_resolution_and_work_starts_again(client, db_session, admin, ticket_in):
    code = ticket_in("resolved")
    first_response = reload(db_session, code).first_response_at

    reopened = act_ok(client, admin, code, "reopen", {"message": "Người dân báo chưa sửa"})
    assert (reopened["status"], reopened["resolved_at"], reopened["agency"]) == (
        "reopened",
        None,
        "SXD",  # back to the same agency
    )
    assert act_ok(client, admin, code, "start")["status"] == "in_progress"
    again = act_ok(client, admin, code, "resolve")

    assert again["status"] == "resolved" and again["resolved_at"] is not None
    stored = reload(db_session, code)
    assert stored.first_response_at == first_response  # the first answer stays the first
    assert stored.resolved_at > first_response
    assert [(e.kind, e.from_status, e.to_status) for e in events_of(db_session, code)][-3:] == [
        ("reopen", "resolved", "reopened"),
        ("start", "reopened", "in_progress"),
        ("resolve", "in_progress", "resolved"),
    ]


@pytest.mark.parametrize("status", sorted(OPEN))
def test_any_open_ticket_can_be_rejected_with_a_public_reason(
    status, client, db_session, admin, ticket_in
):
    code = ticket_in(status)
    reason = "Nội dung không thuộc thẩm quyền của thành phố."

    ticket = act_ok(client, admin, code, "reject", {"reason": reason})

    assert ticket["status"] == "rejected"
    assert ticket["first_response_at"] is not None  # the reason answers the citizen
    last = ticket["events"][-1]
    assert (last["kind"], last["from_status"], last["to_status"]) == ("reject", status, "rejected")
    assert (last["message"], last["public"]) == (reason, True)
    assert last["actor"] == username_of(db_session, admin)
    public = client.get(f"/api/v1/public/tickets/{code}").json()
    assert public["status"] == "rejected"
    assert public["replies"][-1]["message"] == reason


@pytest.mark.parametrize(
    "body, field",
    [({}, "reason"), ({"reason": ""}, "reason"), ({"reason": "   "}, "reason"), (None, "reason")],
    ids=["missing", "empty", "blank", "no-body"],
)
def test_reject_needs_a_reason(body, field, client, db_session, admin, ticket_in):
    code = ticket_in("assigned")
    events = event_count(db_session, code)

    response = act(client, admin, code, "reject", body)

    assert response.status_code == 422, response.text
    assert field in response.json()["detail"]
    assert reload(db_session, code).status.value == "assigned"
    assert event_count(db_session, code) == events


@pytest.mark.parametrize("status", ["assigned", "in_progress", "reopened"])
def test_a_transfer_keeps_the_status_and_changes_the_agency(
    status, client, db_session, admin, ticket_in
):
    code = ticket_in(status)
    due = reload(db_session, code).sla_due_at

    ticket = act_ok(client, admin, code, "transfer", {"agency": "SCT", "message": "Thuộc SCT"})

    assert (ticket["status"], ticket["agency"]) == (status, "SCT")
    stored = reload(db_session, code)
    assert agency_code(db_session, stored.agency_id) == "SCT"
    assert stored.sla_due_at == due  # same category: same deadline
    last = ticket["events"][-1]
    assert (last["kind"], last["from_status"], last["to_status"]) == ("transfer", status, status)
    assert (last["agency"], last["message"]) == ("SCT", "Thuộc SCT")


def test_a_transfer_with_a_new_category_recomputes_the_deadline(
    client, db_session, admin, ticket_in
):
    code = ticket_in("assigned")

    ticket = act_ok(
        client, admin, code, "transfer", {"agency": "CA_TP", "category": "an_ninh_trat_tu"}
    )

    assert (ticket["agency"], ticket["category"]) == ("CA_TP", "an_ninh_trat_tu")
    stored = reload(db_session, code)
    assert stored.sla_due_at == get_calendar().due_at(stored.created_at, 3)


def test_a_transfer_to_the_same_agency_is_refused(client, db_session, admin, ticket_in):
    code = ticket_in("assigned")
    events = event_count(db_session, code)

    response = act(client, admin, code, "transfer", {"agency": "SXD"})

    assert response.status_code == 422
    assert "SXD" in response.json()["detail"]
    assert event_count(db_session, code) == events


def test_a_reply_is_the_first_response_and_a_note_is_not(client, db_session, admin, ticket_in):
    code = ticket_in("assigned")

    noted = act_ok(client, admin, code, "note", {"message": "Đã gọi điện cho tổ dân phố"})
    assert noted["first_response_at"] is None
    assert noted["events"][-1]["public"] is False

    replied = act_ok(client, admin, code, "reply", {"message": "Đã tiếp nhận."})
    assert replied["first_response_at"] is not None
    assert replied["status"] == "assigned"  # replying does not move the ticket
    first = replied["first_response_at"]

    again = act_ok(client, admin, code, "reply", {"message": "Đang xử lý.", "public": False})
    assert again["first_response_at"] == first
    assert [(e["kind"], e["public"]) for e in again["events"][-3:]] == [
        ("note", False),
        ("reply", True),
        ("reply", False),
    ]


MATRIX = [a for a in LEGAL if a not in OUTSIDE_THE_MATRIX]
LEGAL_PAIRS = [(a, s) for a in MATRIX for s in STATUSES if s in LEGAL[a] and a != "note"]
ILLEGAL_PAIRS = [(a, s) for a in MATRIX for s in STATUSES if s not in LEGAL[a]]
# Where each moving action leads; the others (reply, transfer, note) keep the status.
TARGET = {
    "assign": "assigned",
    "start": "in_progress",
    "resolve": "resolved",
    "reject": "rejected",
    "reopen": "reopened",
    "close": "closed",
}


def test_the_table_covers_every_action_of_the_api():
    assert set(LEGAL) == set(ACTION_BODIES)
    assert len(ILLEGAL_PAIRS) == 44


@pytest.mark.parametrize(
    "action, status", ILLEGAL_PAIRS, ids=[f"{a}-from-{s}" for a, s in ILLEGAL_PAIRS]
)
def test_an_illegal_action_answers_409_and_changes_nothing(
    action, status, client, db_session, admin, ticket_in
):
    code = ticket_in(status)
    before = reload(db_session, code)
    state = (before.status, before.agency_id, before.category_code, before.updated_at)
    events = event_count(db_session, code)

    response = act(client, admin, code, action, BODIES[action])

    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert action in detail and f"'{status}'" in detail
    after = reload(db_session, code)
    assert (after.status, after.agency_id, after.category_code, after.updated_at) == state
    assert event_count(db_session, code) == events


@pytest.mark.parametrize(
    "action, status", LEGAL_PAIRS, ids=[f"{a}-from-{s}" for a, s in LEGAL_PAIRS]
)
def test_a_legal_action_is_accepted_and_recorded(
    action, status, client, db_session, admin, ticket_in
):
    code = ticket_in(status)
    events = event_count(db_session, code)

    ticket = act_ok(client, admin, code, action)

    expected = TARGET.get(action, status)
    assert ticket["status"] == expected
    assert event_count(db_session, code) == events + 1
    last = ticket["events"][-1]
    assert (last["kind"], last["from_status"], last["to_status"]) == (action, status, expected)


@pytest.mark.parametrize("status", STATUSES)
def test_a_note_is_allowed_in_every_status_and_moves_nothing(
    status, client, db_session, admin, ticket_in
):
    code = ticket_in(status)

    ticket = act_ok(client, admin, code, "note", {"message": "Ghi chú"})

    assert ticket["status"] == status
    assert ticket["events"][-1]["kind"] == "note"
    assert ticket["events"][-1]["public"] is False
