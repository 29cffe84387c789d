"""Who may read and act on which ticket: agency staff, dispatchers, admins, viewers, the bot.

Another agency's ticket is "not found" to agency staff (its code reveals nothing); listing
another agency's queue is forbidden outright.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import func, select

from core.settings import get_settings
from feedback.auth import create_user
from feedback.models import Agency, StaffRole, StaffUser, Ticket, TicketEvent
from tests.feedback.helpers import file_and_route
from tests.images import resolve_body

CITY_REPORT = {  # → SXD, a city department
    "description": "Đèn đường trước số 12 Yersin tắt cả tuần nay",
    "ward_code": "25747",
    "category": "ha_tang_do_thi",
}
WARD_REPORT = {  # → UBND_25747, the People's Committee of Phường Thủ Dầu Một
    "description": "Rác thải không được thu gom 3 ngày nay ở hẻm 45",
    "ward_code": "25747",
    "category": "moi_truong",
}
ACTIONS = {
    "assign": {"agency": "SCT"},
    "start": {},
    "reply": {"message": "Đã tiếp nhận."},
    "transfer": {"agency": "SCT"},
    "resolve": resolve_body("Đã xử lý."),
    "reject": {"reason": "Không thuộc thẩm quyền."},
    "reopen": {},
    "close": {},
    "note": {"message": "Ghi chú"},
}


@pytest.fixture
def token(staff_token, db_session):
    """staff_token, committed so that a request that fails and rolls back keeps the user."""

    def make(role: str, agency: str | None = None) -> dict[str, str]:
        headers = staff_token(role, agency)
        db_session.commit()
        return headers

    return make


def act(client, headers, code: str, action: str, body: dict | None = None):
    body = ACTIONS[action] if body is None else body
    return client.post(f"/api/v1/tickets/{code}/{action}", json=body, headers=headers)


def snapshot(db_session, code: str) -> tuple:
    """Status, agency and number of events, as stored."""
    db_session.expire_all()
    ticket = db_session.scalars(select(Ticket).where(Ticket.code == code)).one()
    events = db_session.scalar(
        select(func.count()).select_from(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
    )
    return ticket.status, ticket.agency_id, events


def staff_user(db_session, headers: dict[str, str]) -> StaffUser:
    """The user behind a staff Authorization header."""
    token = headers["Authorization"].removeprefix("Bearer ")
    user_id = int(jwt.decode(token, options={"verify_signature": False})["sub"])
    return db_session.get_one(StaffUser, user_id)


def listed_codes(client, headers, **params) -> list[str]:
    response = client.get("/api/v1/tickets", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [t["code"] for t in response.json()["items"]]


@pytest.fixture
def two_tickets(client, db_session, service_headers) -> tuple[str, str]:
    """One ticket of SXD's and one of the ward committee UBND_25747's."""
    sxd = file_and_route(client, db_session, service_headers, CITY_REPORT)
    ward = file_and_route(client, db_session, service_headers, WARD_REPORT)
    return sxd, ward


def test_the_fixture_tickets_are_where_the_tests_assume(client, two_tickets, token):
    admin = token("admin")
    sxd, ward = two_tickets
    assert client.get(f"/api/v1/tickets/{sxd}", headers=admin).json()["agency"] == "SXD"
    assert client.get(f"/api/v1/tickets/{ward}", headers=admin).json()["agency"] == "UBND_25747"


def test_agency_staff_read_their_own_agency_tickets_only(client, two_tickets, token):
    sxd, ward = two_tickets
    staff = token("agency_staff", "SXD")

    assert client.get(f"/api/v1/tickets/{sxd}", headers=staff).status_code == 200
    hidden = client.get(f"/api/v1/tickets/{ward}", headers=staff)
    assert hidden.status_code == 404
    assert hidden.json()["detail"] == f"Ticket '{ward}' not found."
    assert listed_codes(client, staff) == [sxd]
    assert listed_codes(client, staff, agency="SXD") == [sxd]


def test_agency_staff_may_not_list_another_agency(client, two_tickets, token):
    staff = token("agency_staff", "SXD")

    response = client.get("/api/v1/tickets", params={"agency": "UBND_25747"}, headers=staff)

    assert response.status_code == 403
    assert "own agency" in response.json()["detail"]


def test_a_ward_committee_sees_its_ward_ticket_and_not_the_department_one(
    client, two_tickets, token
):
    sxd, ward = two_tickets
    committee = token("agency_staff", "UBND_25747")

    assert listed_codes(client, committee) == [ward]
    assert client.get(f"/api/v1/tickets/{ward}", headers=committee).status_code == 200
    assert client.get(f"/api/v1/tickets/{sxd}", headers=committee).status_code == 404


@pytest.mark.parametrize("action", list(ACTIONS))
def test_agency_staff_cannot_act_on_another_agency_ticket(
    action, client, db_session, two_tickets, token
):
    _, ward = two_tickets
    staff = token("agency_staff", "SXD")
    before = snapshot(db_session, ward)

    response = act(client, staff, ward, action)

    assert response.status_code == 404, response.text
    assert snapshot(db_session, ward) == before


def test_agency_staff_cannot_see_or_act_on_a_triaged_ticket(
    client, db_session, service_headers, token
):
    code = file_and_route(client, db_session, service_headers, {"description": "Không rõ loại"})
    staff = token("agency_staff", "SXD")

    assert client.get(f"/api/v1/tickets/{code}", headers=staff).status_code == 404
    assert act(client, staff, code, "note").status_code == 404
    assert code not in listed_codes(client, staff)


def test_agency_staff_work_their_own_ticket_through_every_staff_action(
    client, db_session, service_headers, token
):
    staff = token("agency_staff", "SXD")
    code = file_and_route(client, db_session, service_headers, CITY_REPORT)

    statuses = [
        act(client, staff, code, action).json()["status"]
        for action in ("note", "reply", "start", "resolve", "reopen", "start", "resolve", "close")
    ]

    assert statuses == [
        "assigned",
        "assigned",
        "in_progress",
        "resolved",
        "reopened",
        "in_progress",
        "resolved",
        "closed",
    ]
    other = file_and_route(client, db_session, service_headers, CITY_REPORT)
    assert act(client, staff, other, "reject").json()["status"] == "rejected"


def test_agency_staff_do_not_assign_even_their_own_ticket(client, db_session, two_tickets, token):
    sxd, _ = two_tickets
    staff = token("agency_staff", "SXD")
    before = snapshot(db_session, sxd)

    response = act(client, staff, sxd, "assign", {"agency": "SCT"})

    assert response.status_code == 403
    assert "dispatchers" in response.json()["detail"]
    assert snapshot(db_session, sxd) == before


def test_a_transfer_by_agency_staff_hands_the_ticket_over_and_out_of_sight(
    client, db_session, two_tickets, token
):
    sxd, _ = two_tickets
    staff = token("agency_staff", "SXD")
    committee = token("agency_staff", "UBND_25747")

    transferred = act(client, staff, sxd, "transfer", {"agency": "UBND_25747"})

    assert transferred.status_code == 200
    assert transferred.json()["agency"] == "UBND_25747"
    assert client.get(f"/api/v1/tickets/{sxd}", headers=staff).status_code == 404
    assert act(client, staff, sxd, "note").status_code == 404
    assert sxd not in listed_codes(client, staff)
    assert client.get(f"/api/v1/tickets/{sxd}", headers=committee).status_code == 200
    assert sxd in listed_codes(client, committee)


@pytest.mark.parametrize("role", ["admin", "dispatcher"])
def test_dispatchers_and_admins_see_and_act_on_every_agency(
    role, client, db_session, two_tickets, token
):
    sxd, ward = two_tickets
    headers = token(role)

    assert set(listed_codes(client, headers)) == {sxd, ward}
    assert listed_codes(client, headers, agency="UBND_25747") == [ward]
    for code in (sxd, ward):
        assert client.get(f"/api/v1/tickets/{code}", headers=headers).status_code == 200
        assert act(client, headers, code, "start").json()["status"] == "in_progress"


def test_a_dispatcher_assigns_from_triage(client, db_session, service_headers, token):
    code = file_and_route(client, db_session, service_headers, {"description": "Không rõ loại"})

    response = act(
        client, token("dispatcher"), code, "assign", {"agency": "SXD", "category": "giao_thong"}
    )

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["agency"]) == ("assigned", "SXD")


def test_viewers_see_no_individual_ticket(client, db_session, two_tickets, token):
    sxd, _ = two_tickets
    viewer = token("viewer")
    before = snapshot(db_session, sxd)

    responses = [
        client.get("/api/v1/tickets", headers=viewer),
        client.get(f"/api/v1/tickets/{sxd}", headers=viewer),
        act(client, viewer, sxd, "note"),
        client.post("/api/v1/tickets", json=CITY_REPORT, headers=viewer),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    assert all(isinstance(r.json()["detail"], str) for r in responses)
    assert snapshot(db_session, sxd) == before


def test_without_a_token_every_staff_endpoint_answers_401(client, two_tickets):
    sxd, _ = two_tickets
    responses = [
        client.get("/api/v1/tickets"),
        client.get(f"/api/v1/tickets/{sxd}"),
        client.post(f"/api/v1/tickets/{sxd}/note", json={"message": "x"}),
        client.post("/api/v1/tickets", json=CITY_REPORT),
        client.get("/api/v1/tickets", headers={"Authorization": "Basic YWRtaW46YWRtaW4="}),
    ]

    for response in responses:
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer" in response.json()["detail"]


def _token_for(db_session, *, exp: datetime, key: str | None = None, sub: str | None = None):
    user = create_user(db_session, username="hieu", password="password-123", role=StaffRole.ADMIN)
    db_session.commit()
    claims = {"sub": sub or str(user.id), "role": "admin", "iat": exp - timedelta(hours=1)}
    claims["exp"] = exp
    return jwt.encode(claims, key or get_settings().secret_key, algorithm="HS256")


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda db: "not-a-token", id="garbage"),
        pytest.param(lambda db: "a.b.c", id="three-garbage-parts"),
        pytest.param(
            lambda db: _token_for(db, exp=datetime.now(UTC) - timedelta(minutes=1)), id="expired"
        ),
        pytest.param(
            lambda db: _token_for(db, exp=datetime.now(UTC) + timedelta(hours=1), key="x" * 40),
            id="signed-with-another-key",
        ),
        pytest.param(
            lambda db: _token_for(db, exp=datetime.now(UTC) + timedelta(hours=1), sub="999999"),
            id="unknown-user",
        ),
        pytest.param(
            lambda db: _token_for(db, exp=datetime.now(UTC) + timedelta(hours=1), sub="hieu"),
            id="non-numeric-subject",
        ),
    ],
)
def test_a_bad_token_answers_401(make_token, client, db_session):
    headers = {"Authorization": f"Bearer {make_token(db_session)}"}

    response = client.get("/api/v1/tickets", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert isinstance(response.json()["detail"], str)


def test_a_valid_token_of_a_deactivated_user_answers_401(client, db_session, token):
    headers = token("admin")
    assert client.get("/api/v1/tickets", headers=headers).status_code == 200
    staff_user(db_session, headers).active = False
    db_session.commit()

    response = client.get("/api/v1/tickets", headers=headers)

    assert response.status_code == 401
    assert "no longer active" in response.json()["detail"]


def test_a_staff_token_of_a_user_moved_to_another_agency_follows_the_user(
    client, db_session, two_tickets, token
):
    """Permissions come from the database at each request, not from the token's claims."""
    _, ward = two_tickets
    headers = token("agency_staff", "SXD")
    committee = db_session.scalar(select(Agency).where(Agency.code == "UBND_25747"))
    staff_user(db_session, headers).agency_id = committee.id
    db_session.commit()

    assert listed_codes(client, headers) == [ward]


# The bot's action server holds the service token: it files tickets, and reads or rates a
# chat's own tickets through /api/v1/bot (tests/bot/test_bot_api.py), nothing more.
def test_the_service_token_files_tickets(client, service_headers):
    response = client.post("/api/v1/tickets", json=CITY_REPORT, headers=service_headers)

    assert response.status_code == 201
    assert response.json()["events"][0]["actor"] == "service"


def test_the_service_token_cannot_read_the_staff_view(client, two_tickets, service_headers):
    _, ward = two_tickets

    assert client.get("/api/v1/tickets", headers=service_headers).status_code == 403
    assert client.get(f"/api/v1/tickets/{ward}", headers=service_headers).status_code == 403


def test_the_service_token_takes_no_staff_action(client, db_session, service_headers, token):
    admin = token("admin")
    code = file_and_route(client, db_session, service_headers, CITY_REPORT)
    act(client, admin, code, "start")
    act(client, admin, code, "resolve")
    before = snapshot(db_session, code)

    refused = {action: act(client, service_headers, code, action).status_code for action in ACTIONS}

    assert refused == dict.fromkeys(ACTIONS, 403)
    assert snapshot(db_session, code) == before


def test_the_public_lookup_and_the_agency_list_need_no_token(client, two_tickets):
    sxd, _ = two_tickets

    assert client.get(f"/api/v1/public/tickets/{sxd}").status_code == 200
    assert client.get("/api/v1/agencies").status_code == 200
