"""Limits on what one chat, one person or one address may do (TIEPDAN_LIMIT_*), and the lock
after wrong passwords that an admin, or the operator on the server, can lift. The tests'
limits are off (tests/conftest.py): each test turns one on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import select

from core.database import session_scope
from core.settings import get_settings
from feedback.auth import create_user
from feedback.models import AuditEntry, StaffRole, StaffUser
from tests.admin.conftest import PASSWORD
from tiepdan.cli import main


def limit(monkeypatch, name: str, value: str) -> None:
    monkeypatch.setattr(get_settings(), f"limit_{name}", value)


def report(channel_user_id: str, phone: str | None = None) -> dict:
    contact = {"channel": "zalo", "channel_user_id": channel_user_id}
    if phone:
        contact |= {"phone": phone, "phone_consent": True}
    return {"description": "Đèn đường trước số 12 Yersin tắt cả tuần nay", "contact": contact}


def test_tickets_one_chat_opens_in_an_hour_are_limited(client, service_headers, monkeypatch):
    limit(monkeypatch, "tickets_per_session", "2/hour")
    chat = uuid.uuid4().hex
    for _ in range(2):
        filed = client.post("/api/v1/tickets", json=report(chat), headers=service_headers)
        assert filed.status_code == 201, filed.text
    refused = client.post("/api/v1/tickets", json=report(chat), headers=service_headers)

    assert refused.status_code == 429
    assert 3000 < int(refused.headers["Retry-After"]) <= 3600
    assert "phản ánh" in refused.json()["detail"]
    other = client.post("/api/v1/tickets", json=report(uuid.uuid4().hex), headers=service_headers)
    assert other.status_code == 201


def test_tickets_one_phone_number_opens_from_several_chats_are_limited(
    client, service_headers, monkeypatch
):
    limit(monkeypatch, "tickets_per_contact", "2/hour")
    phone = f"09{uuid.uuid4().int % 10**8:08d}"
    for _ in range(2):
        filed = client.post(
            "/api/v1/tickets", json=report(uuid.uuid4().hex, phone), headers=service_headers
        )
        assert filed.status_code == 201, filed.text
    refused = client.post(
        "/api/v1/tickets", json=report(uuid.uuid4().hex, phone), headers=service_headers
    )
    assert refused.status_code == 429


def test_staff_at_the_desk_are_not_limited(client, staff_token, monkeypatch):
    limit(monkeypatch, "tickets_per_session", "1/hour")
    limit(monkeypatch, "tickets_per_contact", "1/hour")
    desk = staff_token("dispatcher")
    for _ in range(3):
        body = report("walk-in", phone="0912345678")
        assert client.post("/api/v1/tickets", json=body, headers=desk).status_code == 201


def test_sign_ins_from_one_address_are_limited(client, monkeypatch):
    limit(monkeypatch, "logins_per_ip", "3/minute")
    for n in range(3):
        wrong = client.post(
            "/api/v1/auth/token", data={"username": f"ai-do-{n}", "password": "doan-bua"}
        )
        assert wrong.status_code == 401
    refused = client.post("/api/v1/auth/token", data={"username": "ai-do", "password": "x"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


def test_the_public_lookup_is_limited_per_address(client, monkeypatch):
    limit(monkeypatch, "public_lookups_per_ip", "3/minute")
    for _ in range(3):
        assert client.get("/api/v1/public/tickets/PAZZZZZZZZ").status_code == 404
    refused = client.get("/api/v1/public/tickets/PAZZZZZZZZ")
    assert refused.status_code == 429 and "tra cứu" in refused.json()["detail"]


def test_the_operator_lifts_a_lock_from_the_server_when_no_admin_can_sign_in():
    username = f"khoa-cli-{uuid.uuid4().hex[:8]}"
    with session_scope() as session:
        user = create_user(session, username=username, password=PASSWORD, role=StaffRole.ADMIN)
        user.locked_until = datetime.now(UTC) + timedelta(minutes=15)
    try:
        result = CliRunner().invoke(main, ["user", "unlock", username])
        assert result.exit_code == 0, result.output
        with session_scope() as session:
            user = session.scalars(select(StaffUser).where(StaffUser.username == username)).one()
            assert user.locked_until is None
        unknown = CliRunner().invoke(main, ["user", "unlock", "khong-co-ai"])
        assert unknown.exit_code == 1 and "Không có tài khoản này" in unknown.output
    finally:
        with session_scope() as session:
            user = session.scalars(select(StaffUser).where(StaffUser.username == username)).one()
            session.execute(AuditEntry.__table__.delete().where(AuditEntry.target == username))
            session.delete(user)
