"""Filing, routing, listing and looking up tickets; the agency list and staff login."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from feedback import auth, service
from feedback.auth import SERVICE, create_user
from feedback.classifier import NoClassifier, Prediction
from feedback.models import Agency, Contact, StaffRole, Ticket, TicketEvent
from feedback.routing import route_ticket
from feedback.schemas import TicketCreate
from feedback.sla import get_calendar
from tests.feedback.helpers import route
from tests.images import resolve_body

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
CODE = re.compile(r"^PA[0-9A-Z]{8}$")
CONTRACT_FIELDS = {
    "code",
    "kind",
    "status",
    "category",
    "category_confidence",
    "agency",
    "ward_code",
    "description",
    "created_at",
    "sla_due_at",
    "events",
}
SLA_DAYS = {"ha_tang_do_thi": 7, "an_ninh_trat_tu": 3, "dat_dai": 15, "moi_truong": 7}


@pytest.fixture
def admin(staff_token, db_session) -> dict[str, str]:
    headers = staff_token("admin")
    db_session.commit()
    return headers


def post_ticket(client, headers, **fields) -> dict:
    response = client.post("/api/v1/tickets", json=fields, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def ticket_id(db_session, code: str) -> int:
    return db_session.scalar(select(Ticket.id).where(Ticket.code == code))


def file_at(db_session, when: datetime, *, routed: bool = True, **fields) -> Ticket:
    """A ticket filed at `when` through the service (no HTTP: fast, with a chosen time)."""
    fields.setdefault("description", "Phản ánh thử")
    ticket = service.create_ticket(db_session, data=TicketCreate(**fields), actor=SERVICE, now=when)
    if routed:
        route_ticket(db_session, ticket_id=ticket.id, classifier=NoClassifier(), now=when)
    return ticket


class FixedClassifier(NoClassifier):
    """Always the same prediction, sure of itself from 0.8 up; no duplicate checks."""

    def __init__(self, category: str | None, confidence: float, ward_code: str | None = None):
        self.prediction = Prediction(category, confidence, ward_code, confident=confidence >= 0.8)

    def predict(self, text: str) -> Prediction:
        return self.prediction


# Filing -------------------------------------------------------------------------------------


def test_filing_answers_201_with_the_contract_fields_and_queues_routing(
    client, db_session, sent_tasks, service_headers
):
    before = datetime.now(UTC)
    ticket = post_ticket(
        client,
        service_headers,
        description="  Đèn đường trước số 12 Yersin tắt cả tuần nay  ",
        kind="suggestion",
        ward_code="25747",
        address="12 Yersin",
        category="ha_tang_do_thi",
    )

    assert set(ticket) >= CONTRACT_FIELDS
    assert CODE.match(ticket["code"])
    assert ticket["kind"] == "suggestion"
    assert ticket["status"] == "new"  # routing runs in the worker
    assert (ticket["category"], ticket["category_confidence"]) == ("ha_tang_do_thi", 1.0)
    assert (ticket["agency"], ticket["ward_code"]) == (None, "25747")
    assert ticket["description"] == "Đèn đường trước số 12 Yersin tắt cả tuần nay"
    created = datetime.fromisoformat(ticket["created_at"])
    assert before <= created <= datetime.now(UTC)
    assert ticket["sla_due_at"] is None
    assert [(e["kind"], e["to_status"]) for e in ticket["events"]] == [("created", "new")]
    assert sent_tasks == [
        ("feedback.route_ticket", {"ticket_id": ticket_id(db_session, ticket["code"])})
    ]


def test_filing_with_only_a_description_uses_the_defaults(client, service_headers):
    ticket = post_ticket(client, service_headers, description="Có chuyện cần phản ánh")

    assert ticket["kind"] == "complaint"
    assert ticket["category"] is None and ticket["category_confidence"] is None
    assert ticket["ward_code"] is None and ticket["contact"] is None


def test_a_contact_is_kept_and_found_again_by_its_channel_identity(
    client, db_session, service_headers
):
    contacts = db_session.scalar(select(func.count()).select_from(Contact))
    contact = {
        "name": "Nguyễn Văn An",
        "phone": "0912 345 678",
        "phone_consent": True,
        "channel": "telegram",
        "channel_user_id": "12345",
    }

    first = post_ticket(client, service_headers, description="Phản ánh một", contact=contact)
    second = post_ticket(
        client,
        service_headers,
        description="Phản ánh hai",
        contact={"channel": "telegram", "channel_user_id": "12345"},
    )

    assert first["contact"] == {
        "kind": "citizen",
        "name": "Nguyễn Văn An",
        "phone": "0912345678",
        "company_name": None,
        "tax_code": None,
    }
    assert second["contact"]["name"] == "Nguyễn Văn An"
    assert second["channel"] == "telegram"
    assert db_session.scalar(select(func.count()).select_from(Contact)) == contacts + 1


def test_a_business_contact_keeps_its_tax_code(client, service_headers):
    ticket = post_ticket(
        client,
        service_headers,
        description="Đề nghị hướng dẫn thủ tục đầu tư",
        kind="business_request",
        category="doanh_nghiep_dau_tu",
        contact={
            "kind": "business",
            "company_name": "Công ty TNHH A",
            "tax_code": "0312345673-001",
        },
    )

    assert ticket["kind"] == "business_request"
    assert ticket["contact"]["kind"] == "business"
    assert ticket["contact"]["tax_code"] == "0312345673001"


def test_codes_are_unguessable_shapes_and_never_repeat(db_session):
    when = datetime(2026, 3, 2, 9, tzinfo=HCM)
    codes = [file_at(db_session, when, routed=False).code for _ in range(200)]

    assert len(set(codes)) == 200
    assert all(CODE.match(code) for code in codes)
    # Crockford's alphabet: no I, L, O or U that could be misread over the phone.
    assert not set("".join(c[2:] for c in codes)) & set("ILOU")


# Routing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "category, ward, agency",
    [
        ("moi_truong", "25747", "UBND_25747"),  # ward-level matter with a ward: the ward
        ("trat_tu_xay_dung", "25750", "UBND_25750"),
        ("dat_dai", "25747", "UBND_25747"),
        ("moi_truong", None, "SNNMT"),  # ward-level matter without a ward: the default
        ("trat_tu_xay_dung", None, "SXD"),
        ("thu_tuc_hanh_chinh", None, "VP_UBND"),
        ("ha_tang_do_thi", "25747", "SXD"),  # city-level matter: the department, ward or not
        ("ha_tang_do_thi", None, "SXD"),
        ("an_ninh_trat_tu", "25750", "CA_TP"),
        ("y_te", None, "SYT"),
    ],
)
def test_routing_picks_the_agency_of_the_category_and_ward(
    category, ward, agency, client, db_session, service_headers, admin
):
    code = post_ticket(
        client, service_headers, description="Phản ánh", category=category, ward_code=ward
    )["code"]

    route(db_session, code)

    ticket = client.get(f"/api/v1/tickets/{code}", headers=admin).json()
    assert (ticket["status"], ticket["agency"]) == ("assigned", agency)
    assert ticket["events"][-1]["agency"] == agency


def test_without_a_category_the_ticket_goes_to_triage(client, db_session, service_headers):
    code = post_ticket(client, service_headers, description="Không rõ", ward_code="25747")["code"]

    ticket = route(db_session, code)

    assert (ticket.status.value, ticket.agency_id, ticket.sla_due_at) == ("triage", None, None)


def test_routing_twice_routes_once(client, db_session, service_headers):
    code = post_ticket(client, service_headers, description="Đèn hỏng", category="ha_tang_do_thi")[
        "code"
    ]

    first = route(db_session, code)
    due = first.sla_due_at
    second = route(db_session, code)

    assert second.status.value == "assigned" and second.sla_due_at == due
    kinds = db_session.scalars(
        select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket_id(db_session, code))
    ).all()
    assert kinds == ["created", "routed"]


def test_routing_leaves_a_ticket_alone_once_staff_have_acted(
    client, db_session, service_headers, admin
):
    code = post_ticket(client, service_headers, description="Phản ánh")["code"]
    client.post(f"/api/v1/tickets/{code}/reject", json={"reason": "Trùng"}, headers=admin)

    ticket = route(db_session, code)

    assert (ticket.status.value, ticket.agency_id) == ("rejected", None)


def test_a_confident_prediction_routes_and_fills_the_ward(client, db_session, service_headers):
    code = post_ticket(client, service_headers, description="Rác ở hẻm 45 Phú Lợi")["code"]

    ticket = route(db_session, code, FixedClassifier("moi_truong", 0.9, ward_code="25750"))

    assert (ticket.status.value, ticket.category_code, ticket.ward_code) == (
        "assigned",
        "moi_truong",
        "25750",
    )
    assert (ticket.predicted_category_code, ticket.category_confidence) == ("moi_truong", 0.9)
    assert db_session.get(Agency, ticket.agency_id).code == "UBND_25750"


@pytest.mark.parametrize(
    "prediction",
    [FixedClassifier("moi_truong", 0.3), FixedClassifier("khong_co_that", 0.99)],
    ids=["unsure", "unknown-category"],
)
def test_an_unsure_or_unknown_prediction_goes_to_triage_and_is_kept(
    prediction, client, db_session, service_headers
):
    code = post_ticket(client, service_headers, description="Có chuyện")["code"]

    ticket = route(db_session, code, prediction)

    assert (ticket.status.value, ticket.category_code) == ("triage", None)
    assert ticket.predicted_category_code == prediction.prediction.category


@pytest.mark.parametrize("category", sorted(SLA_DAYS))
def test_the_deadline_is_the_calendar_due_time_of_the_category_sla(
    category, client, db_session, service_headers
):
    code = post_ticket(client, service_headers, description="Phản ánh", category=category)["code"]

    ticket = route(db_session, code)

    expected = get_calendar().due_at(ticket.created_at, SLA_DAYS[category])
    assert ticket.sla_due_at == expected
    assert ticket.sla_due_at.astimezone(HCM).strftime("%H:%M") == "17:00"


def test_a_friday_evening_ticket_is_due_counting_working_days_only(db_session):
    filed = datetime(2026, 3, 6, 19, 30, tzinfo=HCM)  # Friday, after office hours

    ticket = file_at(db_session, filed, category="an_ninh_trat_tu")  # 3 working days

    # The clock starts Monday 9 March 07:30; the third working day after it is Thursday 12.
    assert ticket.sla_due_at == datetime(2026, 3, 12, 17, tzinfo=HCM)
    assert ticket.sla_due_at == get_calendar().due_at(filed, 3)


# Listing ------------------------------------------------------------------------------------


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=HCM)


@pytest.fixture
def queue(db_session, admin) -> dict[str, str]:
    """Five tickets in different states, agencies, categories, wards and days."""
    tickets = {
        "sxd": file_at(db_session, at(2), category="ha_tang_do_thi", ward_code="25747"),
        "phu_loi": file_at(db_session, at(3), category="moi_truong", ward_code="25750"),
        "triage": file_at(db_session, at(4)),
        "tdm": file_at(db_session, at(5), category="moi_truong", ward_code="25747"),
        "unrouted": file_at(
            db_session, at(6), routed=False, category="trat_tu_xay_dung", ward_code="25750"
        ),
    }
    service.apply_action(
        db_session,
        code=tickets["tdm"].code,
        action="start",
        body=service.parse_action_body("start", {}),
        principal=auth.SYSTEM,
    )
    db_session.commit()
    return {name: ticket.code for name, ticket in tickets.items()}


def listed(client, headers, queue, params) -> list[str]:
    """Names of the queue's tickets in the answer, in the order given."""
    response = client.get("/api/v1/tickets", params=params, headers=headers)
    assert response.status_code == 200, response.text
    names = {code: name for name, code in queue.items()}
    return [names[t["code"]] for t in response.json()["items"]]


@pytest.mark.parametrize(
    "params, expected",
    [
        ({}, ["unrouted", "tdm", "triage", "phu_loi", "sxd"]),
        ({"status": "assigned"}, ["phu_loi", "sxd"]),
        ({"status": ["assigned", "triage"]}, ["triage", "phu_loi", "sxd"]),
        ({"status": "new"}, ["unrouted"]),
        ({"agency": "UBND_25747"}, ["tdm"]),
        ({"agency": "SXD"}, ["sxd"]),
        ({"category": "moi_truong"}, ["tdm", "phu_loi"]),
        ({"ward": "25750"}, ["unrouted", "phu_loi"]),
        ({"category": "moi_truong", "ward": "25747"}, ["tdm"]),
        ({"from": "2026-03-03T00:00:00+07:00"}, ["unrouted", "tdm", "triage", "phu_loi"]),
        ({"to": "2026-03-04T09:00:00+07:00"}, ["phu_loi", "sxd"]),  # `to` is exclusive
        (
            {"from": "2026-03-03T09:00:00+07:00", "to": "2026-03-05T00:00:00+07:00"},
            ["triage", "phu_loi"],
        ),  # `from` is inclusive
        ({"from": "2026-03-04T02:00:00Z"}, ["unrouted", "tdm", "triage"]),  # 09:00 in Hà Nội
        ({"status": "closed"}, []),
    ],
)
def test_listing_filters(params, expected, client, admin, queue):
    assert listed(client, admin, queue, params) == expected


@pytest.mark.parametrize(
    "params, word",
    [
        ({"from": "2026-03-03T00:00:00"}, "from"),
        ({"to": "2026-03-03"}, "to"),
        ({"status": "waiting"}, "status"),
        ({"agency": "SO_KHONG_CO"}, "SO_KHONG_CO"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"from": "0001-01-01T00:00:00+14:00"}, "from"),
    ],
)
def test_bad_listing_parameters_answer_422(params, word, client, admin, queue):
    response = client.get("/api/v1/tickets", params=params, headers=admin)

    assert response.status_code == 422
    assert word in response.json()["detail"]


def test_keyset_pagination_returns_every_ticket_once_newest_first(client, db_session, admin):
    start = datetime(2026, 3, 2, 8, tzinfo=HCM)
    # Three tickets share each timestamp, so the order inside a tie is by id.
    for i in range(120):
        file_at(db_session, start + timedelta(minutes=i // 3), routed=False)
    db_session.commit()
    expected = db_session.scalars(
        select(Ticket.code).order_by(Ticket.created_at.desc(), Ticket.id.desc())
    ).all()
    assert len(expected) == 120

    pages, cursor = [], None
    while True:
        params = {"limit": 50} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/tickets", params=params, headers=admin).json()
        pages.append([t["code"] for t in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert [len(p) for p in pages] == [50, 50, 20]
    assert [code for page in pages for code in page] == expected


def test_a_page_that_ends_exactly_at_the_last_ticket_has_no_next_cursor(client, db_session, admin):
    for i in range(4):
        file_at(db_session, at(2) + timedelta(minutes=i), routed=False)
    db_session.commit()

    page = client.get("/api/v1/tickets", params={"limit": 4}, headers=admin).json()

    assert len(page["items"]) == 4 and page["next_cursor"] is None


def test_pagination_composes_with_a_filter(client, db_session, admin):
    for i in range(6):
        ward = "25747" if i % 2 else "25750"
        file_at(db_session, at(2) + timedelta(minutes=i), routed=False, ward_code=ward)
    db_session.commit()

    first = client.get("/api/v1/tickets", params={"ward": "25747", "limit": 2}, headers=admin)
    rest = client.get(
        "/api/v1/tickets",
        params={"ward": "25747", "limit": 2, "cursor": first.json()["next_cursor"]},
        headers=admin,
    )

    items = first.json()["items"] + rest.json()["items"]
    assert [t["ward_code"] for t in items] == ["25747"] * 3
    assert rest.json()["next_cursor"] is None


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "bm90LWpzb24",  # base64 of "not-json"
        "WzFd",  # [1]
        "WyJ5ZXN0ZXJkYXkiLCAxXQ",  # ["yesterday", 1]
        "WyIyMDI2LTAzLTAyVDA5OjAwOjAwKzAwOjAwIiwgMTAwMDAwMDAwMDAwMDAwMDAwMDAwMF0",  # id > BIGINT
        "WyIyMDI2LTAzLTAyVDA5OjAwOjAwIiwgMV0",  # a time without a zone
    ],
)
def test_a_bad_cursor_answers_422(cursor, client, admin):
    response = client.get("/api/v1/tickets", params={"cursor": cursor}, headers=admin)

    assert response.status_code == 422
    assert "cursor" in response.json()["detail"]


# Public lookup ------------------------------------------------------------------------------

PUBLIC_FIELDS = {
    "code",
    "kind",
    "status",
    "category",
    "agency_name",
    "created_at",
    "sla_due_at",
    "resolved_at",
    "replies",
}


def test_the_public_lookup_shows_status_and_public_replies_only(
    client, db_session, service_headers, admin
):
    code = post_ticket(
        client,
        service_headers,
        description="Nhà số 7 hẻm 12 xây lấn chiếm vỉa hè",
        address="7 hẻm 12 Yersin",
        ward_code="25747",
        category="ha_tang_do_thi",
        contact={"name": "Trần Thị Bích", "phone": "0987654321", "phone_consent": True},
    )["code"]
    route(db_session, code)
    for action, body in [
        ("reply", {"message": "Đã tiếp nhận, sẽ kiểm tra."}),
        ("reply", {"message": "Gọi chị Bích số 0987654321", "public": False}),
        ("note", {"message": "Hàng xóm có họ hàng với cán bộ"}),
        ("start", {}),
        ("resolve", resolve_body("Đã xử lý xong.")),
    ]:
        assert (
            client.post(f"/api/v1/tickets/{code}/{action}", json=body, headers=admin).status_code
            == 200
        )

    response = client.get(f"/api/v1/public/tickets/{code}")

    assert response.status_code == 200
    public = response.json()
    assert set(public) == PUBLIC_FIELDS
    assert (public["status"], public["agency_name"]) == ("resolved", "Sở Xây dựng")
    assert [r["message"] for r in public["replies"]] == [
        "Đã tiếp nhận, sẽ kiểm tra.",
        "Đã xử lý xong.",
    ]
    for secret in ("lấn chiếm", "hẻm 12", "Bích", "0987654321", "họ hàng", "25747"):
        assert secret not in response.text


def test_an_unknown_code_is_not_found_publicly(client):
    response = client.get("/api/v1/public/tickets/PA00000000")

    assert response.status_code == 404
    assert response.json() == {"detail": "Ticket 'PA00000000' not found."}


@pytest.mark.parametrize(
    "typed",
    ["pa01abcdef", "PA-01AB-CDEF", "pa 01ab cdef", "PAO1ABCDEF", "PA0IABCDEF", "pa0labcdef"],
)
def test_a_code_is_found_as_people_type_it(typed, client, db_session, service_headers, admin):
    code = post_ticket(client, service_headers, description="Phản ánh")["code"]
    db_session.scalars(select(Ticket).where(Ticket.code == code)).one().code = "PA01ABCDEF"
    db_session.commit()

    public = client.get(f"/api/v1/public/tickets/{typed}")
    staff = client.get(f"/api/v1/tickets/{typed}", headers=admin)

    assert public.status_code == 200 and public.json()["code"] == "PA01ABCDEF"
    assert staff.status_code == 200 and staff.json()["code"] == "PA01ABCDEF"


# Agencies and login -------------------------------------------------------------------------


def test_the_agency_list_has_every_department_and_ward_committee(client):
    response = client.get("/api/v1/agencies")

    assert response.status_code == 200
    agencies = response.json()
    assert len(agencies) == 179
    assert {"code": "SXD", "name": "Sở Xây dựng", "level": "department"} in agencies
    assert {
        "code": "UBND_25747",
        "name": "Ủy ban nhân dân Phường Thủ Dầu Một",
        "level": "ward",
    } in agencies
    levels = [a["level"] for a in agencies]
    assert levels == ["department"] * 11 + ["ward"] * 168  # departments first
    assert len({a["code"] for a in agencies}) == 179


@pytest.fixture
def lan(db_session):
    user = create_user(
        db_session, username="lan", password="mat-khau-dai", role=StaffRole.DISPATCHER
    )
    db_session.commit()
    return user


def login(client, username: str, password: str):
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def test_a_good_password_gives_a_bearer_token_that_works(client, lan):
    response = login(client, "lan", "mat-khau-dai")

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/api/v1/tickets", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "username, password",
    [("lan", "sai-mat-khau"), ("khong-co-ai", "mat-khau-dai"), ("LAN", "mat-khau-dai")],
    ids=["wrong-password", "unknown-user", "username-is-case-sensitive"],
)
def test_bad_credentials_answer_401_json_without_saying_which(username, password, client, lan):
    response = login(client, username, password)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "Incorrect username or password."}


def test_a_deactivated_user_cannot_log_in(client, db_session, lan):
    lan.active = False
    db_session.commit()

    assert login(client, "lan", "mat-khau-dai").status_code == 401


def test_login_without_a_password_names_the_field(client):
    response = client.post("/api/v1/auth/token", data={"username": "lan"})

    assert response.status_code == 422
    assert "password" in response.json()["detail"]
