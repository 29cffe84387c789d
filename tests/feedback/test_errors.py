"""Bad input and failures: every error is JSON with a `detail` string, names what is wrong,
and leaves nothing half-written behind."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import DataError

from core.settings import get_settings
from feedback import service
from feedback.models import Contact, ContactIdentity, Ticket, TicketEvent
from tests.feedback.helpers import file_and_route

REPORT = {"description": "Đèn đường tắt", "ward_code": "25747", "category": "ha_tang_do_thi"}
CONTACT = {"name": "Lê Văn Cường", "channel": "web", "channel_user_id": "s-1"}


@pytest.fixture
def admin(staff_token, db_session) -> dict[str, str]:
    headers = staff_token("admin")
    db_session.commit()
    return headers


def json_error(response, status: int) -> str:
    """Check the status and the JSON error shape; return the detail."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    return detail


def count(db_session, model) -> int:
    return db_session.scalar(select(func.count()).select_from(model))


def routed_ticket(client, db_session, headers) -> str:
    return file_and_route(client, db_session, headers, REPORT)


# Filing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, fields, words",
    [
        ({}, ["description"], ["Field required"]),
        ({"description": ""}, ["description"], []),
        ({"description": " \n\t "}, ["description"], []),
        ({"description": "x" * 5001}, ["description"], ["5000"]),
        ({"description": "x", "kind": "rumour"}, ["kind"], ["complaint"]),
        ({"kind": "rumour"}, ["description", "kind"], []),
        ({"description": "x", "colour": "red"}, ["colour"], []),
        ({"description": "x", "latitude": 91}, ["latitude"], []),
        ({"description": "x", "priority": "asap"}, ["priority"], []),
        (
            {"description": "x", "contact": {"phone": "0912345678"}},
            ["contact"],
            ["phone_consent"],
        ),
        (
            {"description": "x", "contact": {"phone": "12-34", "phone_consent": True}},
            ["contact.phone"],
            [],
        ),
        ({"description": "x", "contact": {"tax_code": "12345"}}, ["contact.tax_code"], ["MST"]),
        ({"description": "x", "contact": {"channel": "zalo"}}, ["contact"], ["channel_user_id"]),
        ({"description": "x", "contact": {"kind": "robot"}}, ["contact.kind"], []),
    ],
    ids=[
        "missing-description",
        "empty-description",
        "blank-description",
        "description-over-5000",
        "unknown-kind",
        "two-faults",
        "unknown-field",
        "latitude-out-of-range",
        "unknown-priority",
        "phone-without-consent",
        "bad-phone",
        "bad-tax-code",
        "channel-without-user",
        "unknown-contact-kind",
    ],
)
def test_bad_filings_answer_422_naming_the_fields(
    body, fields, words, client, db_session, sent_tasks, service_headers
):
    tickets = count(db_session, Ticket)

    response = client.post("/api/v1/tickets", json=body, headers=service_headers)

    detail = json_error(response, 422)
    assert [e["field"] for e in response.json()["errors"]] == fields
    for word in [*fields, *words]:
        assert word in detail
    assert count(db_session, Ticket) == tickets
    assert sent_tasks == []


@pytest.mark.parametrize(
    "body, words",
    [
        ({**REPORT, "ward_code": "99999"}, ["ward code", "99999"]),
        ({**REPORT, "category": "tin_don"}, ["category", "tin_don"]),
    ],
    ids=["unknown-ward", "unknown-category"],
)
def test_unknown_codes_answer_422_and_file_nothing(
    body, words, client, db_session, sent_tasks, service_headers
):
    tickets, contacts = count(db_session, Ticket), count(db_session, Contact)

    response = client.post(
        "/api/v1/tickets", json={**body, "contact": CONTACT}, headers=service_headers
    )

    detail = json_error(response, 422)
    assert all(word in detail for word in words)
    assert (count(db_session, Ticket), count(db_session, Contact)) == (tickets, contacts)
    assert sent_tasks == []


def test_a_description_of_exactly_5000_characters_is_accepted(client, service_headers):
    response = client.post(
        "/api/v1/tickets", json={"description": "đ" * 5000}, headers=service_headers
    )

    assert response.status_code == 201


def test_malformed_json_answers_422(client, service_headers, admin, db_session):
    code = routed_ticket(client, db_session, service_headers)
    headers = {"content-type": "application/json"}

    filing = client.post(
        "/api/v1/tickets", content=b'{"description": "abc"', headers=service_headers | headers
    )
    action = client.post(
        f"/api/v1/tickets/{code}/note", content=b"{note: 1}", headers=admin | headers
    )

    assert "JSON" in json_error(filing, 422)
    assert "JSON" in json_error(action, 422)


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"null", b"42"])
def test_a_filing_that_is_not_an_object_answers_422(body, client, service_headers):
    response = client.post(
        "/api/v1/tickets",
        content=body,
        headers=service_headers | {"content-type": "application/json"},
    )

    json_error(response, 422)


def test_a_nul_character_answers_422_not_500(client, db_session, service_headers, admin):
    """PostgreSQL cannot store NUL in text; where it is not free text to clean, it is the
    client's error, not a crash."""
    lookup = client.get("/api/v1/public/tickets/PA%00")
    listing = client.get("/api/v1/tickets", params={"ward": "\x00"}, headers=admin)

    for response in (lookup, listing):
        assert "NUL" in json_error(response, 422)


def test_control_and_direction_override_characters_are_stripped_from_free_text(
    client, db_session, service_headers, sent_tasks
):
    """NUL, ANSI escapes and a right-to-left override (which makes "exe.txt" show as "txt.exe")
    leave the text; new lines and tabs stay."""
    filing = client.post(
        "/api/v1/tickets",
        json={
            "description": "Cống\x00 vỡ\x1b[31m đỏ\x1b[0m\r\ndòng 2\tcột \u202etxt.exe",
            "address": "Hẻm\x07 45\u200b",
            "contact": {"name": "Lê\x00 Văn \u202eA", "channel": "web", "channel_user_id": "s-9"},
        },
        headers=service_headers,
    )

    assert filing.status_code == 201, filing.text
    ticket = filing.json()
    assert ticket["description"] == "Cống vỡ đỏ\ndòng 2\tcột txt.exe"
    assert ticket["address"] == "Hẻm 45"
    assert ticket["contact"]["name"] == "Lê Văn A"


# A failure after a partial write ------------------------------------------------------------


def _refused_by_the_database(_mapper, _connection, _ticket) -> None:
    """The ticket's insert fails as PostgreSQL fails a value it cannot store."""
    raise DataError("INSERT INTO tickets", None, ValueError("a value cannot be stored"))


def test_a_ticket_that_fails_after_its_contact_was_written_leaves_no_contact(
    client, db_session, sent_tasks, service_headers
):
    """The contact is flushed first; the ticket insert then fails: the request rolls back."""
    before = (count(db_session, Contact), count(db_session, ContactIdentity))
    inserted = []

    def listener(_mapper, _connection, contact: Contact) -> None:
        inserted.append(contact.name)

    event.listen(Contact, "after_insert", listener)

    try:
        event.listen(Ticket, "before_insert", _refused_by_the_database)
        response = client.post(
            "/api/v1/tickets",
            json={"description": "Cống tắc", "contact": CONTACT},
            headers=service_headers,
        )
    finally:
        event.remove(Contact, "after_insert", listener)
        event.remove(Ticket, "before_insert", _refused_by_the_database)

    json_error(response, 422)
    assert inserted == [CONTACT["name"]]  # the contact row was written, then rolled back
    assert (count(db_session, Contact), count(db_session, ContactIdentity)) == before
    assert count(db_session, Ticket) == 0
    assert sent_tasks == []


def test_a_code_collision_rolls_back_the_contact_and_queues_nothing(
    client, db_session, sent_tasks, service_headers, monkeypatch
):
    taken = routed_ticket(client, db_session, service_headers)
    sent_tasks.clear()
    before = (count(db_session, Contact), count(db_session, Ticket), count(db_session, TicketEvent))
    monkeypatch.setattr(service, "generate_ticket_code", lambda: taken)

    response = client.post(
        "/api/v1/tickets", json={**REPORT, "contact": CONTACT}, headers=service_headers
    )

    # One in 10**12: not worth a retry loop, but it must not leave a contact behind.
    json_error(response, 500)
    after = (count(db_session, Contact), count(db_session, Ticket), count(db_session, TicketEvent))
    assert after == before
    assert sent_tasks == []


# Actions ------------------------------------------------------------------------------------


def test_an_unknown_action_answers_404_listing_the_known_ones(
    client, db_session, service_headers, admin
):
    code = routed_ticket(client, db_session, service_headers)

    detail = json_error(
        client.post(f"/api/v1/tickets/{code}/escalate", json={}, headers=admin), 404
    )

    assert "escalate" in detail
    assert (
        "assign, assign_staff, close, merge, note, recategorize, reject, reopen, reply, resolve, "
        "start, transfer"
    ) in detail


@pytest.mark.parametrize(
    "action, body, words",
    [
        ("reply", {}, ["message", "Field required"]),
        ("reply", {"message": "  "}, ["message"]),
        ("note", {"message": "x" * 5001}, ["message", "5000"]),
        ("assign", {}, ["agency"]),
        ("transfer", {"agency": "SCT", "colour": "red"}, ["colour"]),
        ("reject", {"message": "sai"}, ["reason", "message"]),
        ("resolve", {"message": 12}, ["message"]),
    ],
)
def test_a_bad_action_body_answers_422_naming_the_field(
    action, body, words, client, db_session, service_headers, admin
):
    code = routed_ticket(client, db_session, service_headers)
    events = count(db_session, TicketEvent)

    response = client.post(f"/api/v1/tickets/{code}/{action}", json=body, headers=admin)

    detail = json_error(response, 422)
    assert detail.startswith(f"Invalid body for '{action}'")
    assert all(word in detail for word in words)
    assert count(db_session, TicketEvent) == events


@pytest.mark.parametrize(
    "body, words",
    [
        ({"agency": "SO_MA"}, ["Unknown agency code", "SO_MA"]),
        ({"agency": "SCT", "category": "tin_don"}, ["Unknown category code", "tin_don"]),
    ],
)
def test_a_transfer_to_an_unknown_agency_or_category_answers_422(
    body, words, client, db_session, service_headers, admin
):
    code = routed_ticket(client, db_session, service_headers)

    response = client.post(f"/api/v1/tickets/{code}/transfer", json=body, headers=admin)

    detail = json_error(response, 422)
    assert all(word in detail for word in words)
    ticket = client.get(f"/api/v1/tickets/{code}", headers=admin).json()
    assert (ticket["agency"], ticket["category"]) == ("SXD", "ha_tang_do_thi")


def test_an_unknown_ticket_answers_404_everywhere(client, admin):
    responses = [
        client.get("/api/v1/tickets/PA00000000", headers=admin),
        client.post("/api/v1/tickets/PA00000000/note", json={"message": "x"}, headers=admin),
        client.get("/api/v1/public/tickets/PAZZZZZZZZ"),
    ]

    for response in responses:
        assert "not found" in json_error(response, 404)


def test_unknown_routes_and_methods_answer_json_too(client):
    assert json_error(client.get("/api/v1/khong-co"), 404) == "Not Found"
    assert json_error(client.delete("/api/v1/agencies"), 405) == "Method Not Allowed"


# Body size ----------------------------------------------------------------------------------


def _oversized_filing() -> bytes:
    limit = get_settings().max_body_bytes
    return b'{"description": "' + b"a" * limit + b'"}'


def test_an_oversized_body_with_content_length_answers_413(client, db_session, service_headers):
    tickets = count(db_session, Ticket)

    response = client.post(
        "/api/v1/tickets",
        content=_oversized_filing(),
        headers=service_headers | {"content-type": "application/json"},
    )

    assert "too large" in json_error(response, 413)
    assert count(db_session, Ticket) == tickets


def test_an_oversized_streamed_body_answers_413(client, db_session, service_headers):
    body = _oversized_filing()

    def chunks():  # no Content-Length: the request is sent chunked
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = client.post(
        "/api/v1/tickets",
        content=chunks(),
        headers=service_headers | {"content-type": "application/json"},
    )

    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "too large" in json_error(response, 413)
    assert count(db_session, Ticket) == 0


def test_an_oversized_login_form_answers_413(client):
    limit = get_settings().max_body_bytes

    def chunks():
        yield b"username=lan&password=" + b"x" * limit

    response = client.post(
        "/api/v1/auth/token",
        content=chunks(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    json_error(response, 413)


def test_a_photo_link_must_be_ours_or_on_a_host_the_province_trusts(
    client, db_session, service_headers, sent_tasks, monkeypatch
):
    def file(photo: str):
        return client.post(
            "/api/v1/tickets",
            json={"description": "Ổ gà lớn giữa đường", "photos": [photo]},
            headers=service_headers,
        )

    ours = "/api/v1/webchat/photos/" + "a" * 32 + ".jpg"
    assert file(ours).status_code == 201
    elsewhere = file("https://cdn.example.vn/o-ga.jpg")
    assert "TIEPDAN_PHOTO_HOSTS" in json_error(elsewhere, 422)
    monkeypatch.setattr(get_settings(), "photo_hosts", "cdn.example.vn")
    assert file("https://cdn.example.vn/o-ga.jpg").status_code == 201
    assert file("http://cdn.example.vn/o-ga.jpg").status_code == 422  # https only
    assert file("https://cdn.example.vn.evil.example/x.jpg").status_code == 422
