"""The panel through the whole app, sharing the test's rolled-back session, signed in as
whoever a test needs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from starlette.routing import Mount

from core.http import get_db_session
from feedback.auth import create_user
from feedback.models import StaffRole
from tests.addresses import own_address
from tests.sessions import serving

PASSWORD = "mat-khau-thu-nghiem-1"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(autouse=True)
def fresh_dashboards() -> Iterator[None]:
    """Figures and lists read from one test's (rolled-back) data must not serve the next."""
    from admin.choices import forget as forget_choices
    from feedback.kpis import forget_dashboards

    forget_dashboards()
    forget_choices()
    yield
    forget_dashboards()
    forget_choices()


@pytest.fixture
def app_client(db_session: Session, sent_tasks: list[Any]) -> Iterator[TestClient]:
    """The whole app (API and panel), on the test's session."""
    from tiepdan.app import create_app

    app = create_app()

    session_override = serving(db_session)
    app.dependency_overrides[get_db_session] = session_override
    panel = next(r.app for r in app.routes if isinstance(r, Mount) and r.path == "/admin")
    panel.dependency_overrides[get_db_session] = session_override
    with TestClient(
        app, raise_server_exceptions=False, follow_redirects=False, client=own_address()
    ) as client:
        yield client


class Panel:
    """A browser signed in to the panel: it keeps the cookie and the page's CSRF token."""

    def __init__(self, client: TestClient, username: str) -> None:
        self.client = client
        self.username = username
        self.csrf = ""

    def get(self, path: str, **kwargs: Any) -> Any:
        response = self.client.get(path, **kwargs)
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.client.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    form = client.get("/admin/login")
    token = CSRF.search(form.text)
    assert token, form.text
    return client.post(
        "/admin/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
    )


@pytest.fixture
def panel(app_client: TestClient, db_session: Session) -> Callable[..., Panel]:
    """panel(role, agency): a new user of that role, signed in (admins' TOTP turned off)."""
    from core.settings import get_settings

    counter = iter(range(1_000_000))

    def make(role: str, agency: str | None = None) -> Panel:
        username = f"panel-{role}-{next(counter)}"
        create_user(
            db_session,
            username=username,
            password=PASSWORD,
            role=StaffRole(role),
            agency_code=agency,
        )
        db_session.commit()
        settings = get_settings()
        required = settings.admin_totp_required
        settings.admin_totp_required = False
        try:
            response = sign_in(app_client, username)
        finally:
            settings.admin_totp_required = required
        assert response.status_code == 303, response.text
        browser = Panel(app_client, username)
        browser.get("/admin/password")  # any page: picks up the CSRF token
        return browser

    return make
