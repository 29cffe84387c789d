"""Sign-in limits and locks in the panel: the per-account limit counts the API's attempts too,
and an admin lifts a lock. The tests' limits are off (tests/conftest.py): each test turns one
on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.settings import get_settings
from feedback.auth import create_user
from feedback.models import AuditEntry, StaffRole, StaffUser
from tests.admin.conftest import PASSWORD, sign_in


def limit(monkeypatch, name: str, value: str) -> None:
    monkeypatch.setattr(get_settings(), f"limit_{name}", value)


def test_sign_ins_on_one_account_are_limited_whatever_the_address(
    client, app_client, db_session, monkeypatch
):
    limit(monkeypatch, "logins_per_account", "2/minute")
    username = f"dich-{uuid.uuid4().hex[:8]}"
    create_user(db_session, username=username, password=PASSWORD, role=StaffRole.VIEWER)
    db_session.commit()
    form = {"username": username, "password": "sai"}
    assert client.post("/api/v1/auth/token", data=form).status_code == 401
    assert client.post("/api/v1/auth/token", data=form).status_code == 401
    # The panel, from another address: the same account's count.
    refused = sign_in(app_client, username)
    assert refused.status_code == 429
    assert "Đăng nhập quá nhiều lần" in refused.text and refused.headers["Retry-After"]


def _locked_user(db_session) -> StaffUser:
    user = create_user(
        db_session,
        username=f"khoa-{uuid.uuid4().hex[:8]}",
        password=PASSWORD,
        role=StaffRole.AGENCY_STAFF,
        agency_code="SXD",
    )
    user.locked_until = datetime.now(UTC) + timedelta(minutes=15)
    db_session.commit()
    return user


def test_an_admin_lifts_a_lock_in_the_panel_and_it_is_audited(app_client, db_session, panel):
    admin = panel("admin")
    user = _locked_user(db_session)
    page = admin.get("/admin/settings/users")
    assert f'id="unlock-{user.id}"' in page.text

    lifted = admin.post(
        f"/admin/settings/users/{user.id}",
        {"role": "agency_staff", "agency": "SXD", "active": "true", "unlock": "true"},
    )

    assert lifted.status_code == 303
    db_session.refresh(user)
    assert user.locked_until is None and user.failed_logins == 0
    audit = db_session.scalars(select(AuditEntry).where(AuditEntry.action == "user.unlock"))
    assert [(e.target, e.actor) for e in audit] == [(user.username, admin.username)]
