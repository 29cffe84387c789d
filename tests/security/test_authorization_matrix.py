"""Every route × every caller against the table in authorization_table.py.

One app and one database transaction for the whole module: the world (agencies A and B, a
ticket of A's filed from a web chat, staff of every role, API keys, a handed-off conversation)
is made once, and each call runs inside a savepoint that is rolled back, so an admin revoking a
key or a dispatcher transferring the ticket changes nothing for the next call.

Refused callers must get 401, 403 or 404 (the panel sends them to its sign-in page), never a
2xx and never a 5xx; allowed callers must never get 401 or 403. Bodies are valid for the
callers a route lets in, so a 422 cannot hide a missing refusal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute, Mount, WebSocketRoute
from starlette.websockets import WebSocketDisconnect

from admin.auth_views import LOGIN_CSRF
from admin.sessions import COOKIE, mark_verified, principal_of, start_session
from bot import webchat
from bot.models import Conversation
from core import celery_app as celery_module
from core.database import get_engine
from core.http import get_db_session
from core.settings import get_settings
from feedback import apikeys, attachments, configuration, reply_templates
from feedback.auth import SERVICE, SYSTEM, create_user, issue_access_token
from feedback.models import Agency, ApiKeyScope, RoutingRule, StaffRole, StaffSession, Ticket
from feedback.schemas import TicketCreate
from feedback.service import create_ticket
from integrations.ioc import open311
from tests.addresses import own_address
from tests.bot.conftest import forget_chats
from tests.e2e.processes import free_port
from tests.feedback.helpers import route
from tests.images import tiny_png
from tests.security.authorization_table import CALLERS, CLASSES, ROUTES

AGENCY_A, AGENCY_B = "SXD", "UBND_25747"
PASSWORD = "mat-khau-ma-tran-1"
REPORT = {  # routed to SXD (agency A), see tests/feedback/test_roles.py
    "description": "Đèn đường trước số 12 Yersin tắt cả tuần nay",
    "ward_code": "25747",
    "category": "ha_tang_do_thi",
}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
UNKNOWN_SESSION = "wc-not-issued-by-this-server-0000000000"


def route_table(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every route of the app and of the apps mounted in it."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[BaseRoute], prefix: str) -> None:
        for context in iter_route_contexts(routes):
            original = context.original_route
            if isinstance(original, Mount):
                if isinstance(original.app, FastAPI):  # not a StaticFiles folder
                    walk(original.app.routes, prefix + original.path)
                continue
            if isinstance(original, WebSocketRoute) or context.methods is None:
                found.add(("WEBSOCKET", prefix + str(context.path)))
                continue
            for method in context.methods - {"HEAD"}:
                found.add((method, prefix + str(context.path)))

    walk(app.routes, "")
    return found


@dataclass
class World:
    app: FastAPI
    client: TestClient
    connection: Connection
    code: str = ""
    citizen_session: str = ""
    conversation_id: int = 0
    document: str = ""
    photo: str = ""
    rule_id: int = 0
    key_id: int = 0
    user_b_id: int = 0
    ticket_id: int = 0
    bearer: dict[str, str] = field(default_factory=dict)  # caller → token
    panel: dict[str, tuple[str, str]] = field(default_factory=dict)  # caller → (cookie, csrf)
    totp: dict[str, str] = field(default_factory=dict)  # caller → TOTP secret
    usernames: dict[str, str] = field(default_factory=dict)
    sessions: Callable[[], Session] | None = None  # a new session for the next call


def _make_world(session: Session, world: World) -> None:
    users = {
        "viewer": (StaffRole.VIEWER, None),
        "staff_a": (StaffRole.AGENCY_STAFF, AGENCY_A),
        "staff_b": (StaffRole.AGENCY_STAFF, AGENCY_B),
        "dispatcher": (StaffRole.DISPATCHER, None),
        "admin": (StaffRole.ADMIN, None),
    }
    for caller, (role, agency) in users.items():
        user = create_user(
            session,
            username=f"matrix-{caller}",
            password=PASSWORD,
            role=role,
            agency_code=agency,
        )
        # A second factor, so that the panel's TOTP pages can be passed with a right code.
        user.totp_secret = pyotp.random_base32()
        session.flush()
        world.usernames[caller] = user.username
        world.totp[caller] = user.totp_secret
        world.bearer[caller] = issue_access_token(user)
        token = start_session(session, user=user)
        row = session.scalars(select(StaffSession).where(StaffSession.user_id == user.id)).one()
        mark_verified(session, session_id=row.id)
        world.panel[caller] = (token, row.csrf_token)
        if caller == "staff_b":
            world.user_b_id = user.id
        if caller == "admin":
            admin = principal_of(user)
    world.bearer["service"] = get_settings().service_token
    ioc = apikeys.create_api_key(session, name="matrix-ioc", scope=ApiKeyScope.IOC, actor=SYSTEM)
    world.bearer["ioc_key"] = ioc.secret
    world.key_id = ioc.key.id
    revoked = apikeys.create_api_key(
        session, name="matrix-revoked", scope=ApiKeyScope.IOC, actor=SYSTEM
    )
    apikeys.revoke_api_key(session, principal=SYSTEM, key_id=revoked.key.id)
    world.bearer["revoked_key"] = revoked.secret

    # The citizen: a web-chat session (committed by the chat itself) and a ticket of A's
    # filed from it.
    world.citizen_session = webchat.open_session(ip="127.0.0.1")
    data = TicketCreate.model_validate(
        {**REPORT, "contact": {"channel": "web", "channel_user_id": world.citizen_session}}
    )
    world.code = create_ticket(session, data=data, actor=SERVICE).code
    session.commit()
    routed = route(session, world.code)
    assert (
        routed.agency_id == session.scalars(select(Agency.id).where(Agency.code == AGENCY_A)).one()
    )
    chat = Conversation(channel="test", channel_user_id="matrix-chat", handed_off=True)
    session.add(chat)
    session.flush()
    world.conversation_id = chat.id
    world.document = attachments.save_evidence(PDF).rsplit("/", 1)[1]
    world.photo = attachments.save(tiny_png(), "png").rsplit("/", 1)[1]
    world.rule_id = session.scalars(select(RoutingRule.id).limit(1)).one()
    world.ticket_id = routed.id
    # What the panel's delete buttons delete.
    configuration.set_calendar_day(
        session, principal=admin, day=date(2031, 1, 2), name="Ngày nghỉ bù", working=False
    )
    configuration.save_faq(
        session,
        principal=admin,
        entry_id="matrix",
        question="Hỏi gì?",
        answer="Đáp thế này.",
        alternatives=[],
        active=True,
    )
    reply_templates.save(
        session,
        principal=admin,
        template_id="matrix",
        action="reply",
        title="Mẫu",
        vi="Phản ánh {code}",
        en="Report {code}",
        active=True,
    )
    session.commit()


@pytest.fixture(scope="module")
def world(database: str) -> Iterator[World]:
    from tiepdan.app import create_app

    with pytest.MonkeyPatch.context() as patch:
        # Rasa down (a closed port): the chat stores the message and answers without it.
        patch.setattr(get_settings(), "rasa_url", f"http://127.0.0.1:{free_port()}")
        patch.setattr(celery_module.celery_app, "send_task", lambda *a, **k: None)
        from argon2 import PasswordHasher

        from feedback import auth

        patch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))

        connection = get_engine().connect()
        transaction = connection.begin()
        app = create_app()
        holder: dict[str, Session] = {}

        def session_override() -> Iterator[Session]:
            session = holder["session"]
            try:
                yield session
                session.commit()
            except Exception:
                session.rollback()
                raise

        app.dependency_overrides[get_db_session] = session_override
        panel = next(r.app for r in app.routes if isinstance(r, Mount) and r.path == "/admin")
        panel.dependency_overrides[get_db_session] = session_override
        client = TestClient(
            app, raise_server_exceptions=False, follow_redirects=False, client=own_address()
        )
        world = World(app=app, client=client, connection=connection)
        setup = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            _make_world(setup, world)
            setup.close()

            def fresh() -> Session:
                holder["session"] = Session(
                    bind=connection, join_transaction_mode="create_savepoint"
                )
                return holder["session"]

            world.sessions = fresh
            with client:
                yield world
        finally:
            transaction.rollback()
            connection.close()
            forget_chats()


@pytest.fixture
def call_in_savepoint(world: World) -> Iterator[Session]:
    """The call's work is undone afterwards: the next call sees the world as it was made."""
    savepoint = world.connection.begin_nested()
    assert world.sessions is not None
    session = world.sessions()
    try:
        yield session
    finally:
        session.close()
        if savepoint.is_active:
            savepoint.rollback()


# --- How each route is called ------------------------------------------------------------------

Request = dict[str, Any]
Builder = Callable[[World, str], Request]


def _json(body: dict[str, Any]) -> Builder:
    return lambda _world, _caller: {"json": body}


def _form(body: dict[str, Any]) -> Builder:
    return lambda _world, _caller: {"data": body}


def _own_session(world: World, caller: str) -> str:
    """The citizen sends its own chat's id; nobody else knows a valid one."""
    return world.citizen_session if caller == "citizen" else UNKNOWN_SESSION


def _panel_login(world: World, _caller: str) -> Request:
    return {
        "data": {
            "username": world.usernames["viewer"],
            "password": PASSWORD,
            "csrf_token": "matrix",
        },
        "cookies": {LOGIN_CSRF: "matrix"},
    }


def _totp_code(world: World, caller: str) -> Request:
    secret = world.totp.get(caller, pyotp.random_base32())
    return {"data": {"code": pyotp.TOTP(secret).now()}}


def _totp_setup(_world: World, _caller: str) -> Request:
    secret = pyotp.random_base32()
    return {"data": {"secret": secret, "code": pyotp.TOTP(secret).now()}}


def _open311_post(world: World, caller: str) -> Request:
    form = {"service_code": "ha_tang_do_thi", "description": REPORT["description"], "lat": "10.98"}
    key = world.bearer.get(caller, "")
    if key.startswith(apikeys.KEY_PREFIX):
        form["api_key"] = key
    form["long"] = "106.65"
    return {"data": form}


# Bodies and query strings; path parameters come from PATH_VALUES unless a route needs others.
REQUESTS: dict[tuple[str, str], Builder] = {
    ("POST", "/api/v1/auth/token"): lambda w, _c: {
        "data": {
            "username": w.usernames["viewer"],
            "password": PASSWORD,
            "otp": pyotp.TOTP(w.totp["viewer"]).now(),
        }
    },
    ("POST", "/api/v1/tickets"): _json(REPORT),
    ("POST", "/api/v1/tickets/{code}/attachments"): lambda _w, _c: {
        "files": {"file": ("evidence.pdf", PDF, "application/pdf")}
    },
    ("POST", "/api/v1/tickets/{code}/{action}"): _json({"message": "Ghi chú nội bộ"}),
    ("POST", "/api/v1/bot/analyse"): _json({"text": "đèn đường hỏng"}),
    ("GET", "/api/v1/bot/faq"): lambda _w, _c: {"params": {"q": "làm căn cước"}},
    ("GET", "/api/v1/bot/tickets"): lambda w, _c: {
        "params": {"sender": f"web:{w.citizen_session}"}
    },
    ("POST", "/api/v1/bot/tickets/{code}/rating"): lambda w, _c: {
        "json": {"sender": f"web:{w.citizen_session}", "score": 5}
    },
    ("POST", "/api/v1/bot/handoff"): lambda w, _c: {"json": {"sender": f"web:{w.citizen_session}"}},
    ("POST", "/api/v1/conversations/{conversation_id}/reply"): _json({"text": "Chào anh/chị"}),
    ("POST", "/api/v1/webchat/messages"): lambda w, c: {
        "json": {"session_id": _own_session(w, c), "text": "xin chào"}
    },
    ("POST", "/api/v1/webchat/photos"): lambda w, c: {
        "params": {"session_id": _own_session(w, c)},
        "content": tiny_png(),
        "headers": {"Content-Type": "image/png"},
    },
    ("POST", "/webhooks/telegram"): _json({"update_id": 1}),
    ("POST", "/webhooks/zalo"): _json({"event_name": "user_send_text"}),
    ("POST", "/open311/v2/requests.{fmt}"): _open311_post,
    ("POST", "/admin/login"): _panel_login,
    ("POST", "/admin/login/totp"): _totp_code,
    ("POST", "/admin/login/totp/setup"): _totp_setup,
    ("POST", "/admin/password"): _form(
        {"current": PASSWORD, "new": "mat-khau-moi-dai-1", "confirm": "mat-khau-moi-dai-1"}
    ),
    ("POST", "/admin/tickets/{code}/actions/{action}"): _form({"message": "Ghi chú nội bộ"}),
    ("POST", "/admin/conversations/{conversation_id}/reply"): _form({"text": "Chào anh/chị"}),
    ("POST", "/admin/settings/users"): _form(
        {"username": "matrix-new", "password": PASSWORD, "role": "viewer"}
    ),
    ("POST", "/admin/settings/users/{user_id}"): _form(
        {"role": "agency_staff", "agency": AGENCY_B, "active": "true"}
    ),
    ("POST", "/admin/settings/agencies/{code}"): _form({"name": "Sở Xây dựng", "active": "true"}),
    ("POST", "/admin/settings/routing"): _form(
        {"category": "moi_truong", "agency": AGENCY_A, "priority": "5", "ward": "25747"}
    ),
    ("POST", "/admin/settings/routing/{rule_id}"): _form({"priority": "3"}),
    ("POST", "/admin/settings/calendar"): _form(
        {"day": "2031-01-02", "name": "Ngày nghỉ bù", "working": "false"}
    ),
    ("POST", "/admin/settings/faq"): _form(
        {"entry_id": "matrix", "question": "Hỏi gì?", "answer": "Đáp thế này.", "active": "true"}
    ),
    ("POST", "/admin/settings/templates"): _form(
        {
            "template_id": "matrix",
            "action": "reply",
            "title": "Mẫu",
            "vi": "Phản ánh {code}",
            "en": "Report {code}",
            "active": "true",
        }
    ),
    ("POST", "/admin/settings/apikeys"): _form({"name": "matrix-new", "scope": "ioc"}),
}


def _path_values(world: World, method: str, path: str, caller: str) -> dict[str, str]:
    values = {
        "code": world.code,
        "action": "note",
        "name": world.document,
        "conversation_id": str(world.conversation_id),
        "session_id": _own_session(world, caller),
        "fmt": "json",
        "request_id": str(world.ticket_id),
        "token": open311.token_for(world.ticket_id),
        "figure": "on-time",
        "user_id": str(world.user_b_id),
        "rule_id": str(world.rule_id),
        "day": "2031-01-02",
        "entry_id": "matrix",
        "template_id": "matrix",
        "key_id": str(world.key_id),
    }
    if path == "/api/v1/webchat/photos/{name}":
        values["name"] = world.photo
    elif path == "/open311/v2/services/{code}.{fmt}":
        values["code"] = "ha_tang_do_thi"
    elif path == "/admin/settings/agencies/{code}":
        values["code"] = AGENCY_A
    elif path == "/admin/settings/{name}":
        values["name"] = "users"
    return values


def _credentials(world: World, path: str, caller: str) -> Request:
    """A panel path gets the caller's sign-in cookie and CSRF token; anything else its bearer
    token. Bearer tokens go to the panel too: they must not open it."""
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    if caller in world.bearer:
        headers["Authorization"] = f"Bearer {world.bearer[caller]}"
    if path.startswith("/admin") and caller in world.panel:
        cookie, csrf = world.panel[caller]
        cookies[COOKIE] = cookie
        headers["X-CSRF-Token"] = csrf
    if path.startswith("/admin"):
        # As HTMX asks: a missing sign-in is then a 401 (with HX-Redirect), not a redirect that
        # a real sign-out would look like.
        headers["HX-Request"] = "true"
    return {"headers": headers, "cookies": cookies}


def _send(world: World, method: str, path: str, caller: str) -> int:
    """Call the route as the caller; the answer's status (a WebSocket's: 101 or 403)."""
    url = re.sub(r"\{(\w+)\}", lambda m: _path_values(world, method, path, caller)[m[1]], path)
    request = _credentials(world, path, caller)
    extra = REQUESTS.get((method, path), lambda _w, _c: {})(world, caller)
    request["headers"].update(extra.pop("headers", {}))
    request["cookies"].update(extra.pop("cookies", {}))
    client = world.client
    client.cookies.clear()  # nothing of one call's sign-in may carry over to the next
    cookie = "; ".join(f"{k}={v}" for k, v in request.pop("cookies").items())
    if cookie:
        request["headers"]["Cookie"] = cookie
    if method == "WEBSOCKET":
        try:
            with client.websocket_connect(url, headers=request["headers"]):
                return 101
        except WebSocketDisconnect as refused:
            return 403 if refused.code == 1008 else 500
    return client.request(method, url, **request, **extra).status_code


def _refused(status: int) -> bool:
    return status in (401, 403, 404)


CASES = [
    pytest.param(method, path, caller, id=f"{method} {path} as {caller}")
    for (method, path) in ROUTES
    for caller in CALLERS
]


@pytest.mark.parametrize(("method", "path", "caller"), CASES)
def test_route_answers_caller_as_its_class_says(
    world: World, call_in_savepoint: Session, method: str, path: str, caller: str
) -> None:
    kind = ROUTES[(method, path)]
    status = _send(world, method, path, caller)

    assert status < 500, f"{method} {path} as {caller}: server error {status}"
    if caller in CLASSES[kind]:
        assert not _refused(status), f"{method} {path} ({kind}) should let {caller} in: {status}"
    else:
        assert _refused(status), (
            f"{method} {path} ({kind}) should refuse {caller} (401/403/404), got {status}"
        )


def test_every_route_is_classified(world: World) -> None:
    routes = route_table(world.app)

    missing = sorted(routes - set(ROUTES))
    stale = sorted(set(ROUTES) - routes)

    assert not missing, (
        "Routes with no class in tests/security/authorization_table.py: "
        + ", ".join(f"{m} {p}" for m, p in missing)
        + ". Add each to ROUTES with one of: "
        + ", ".join(CLASSES)
        + " (see the module's docstring)."
    )
    assert not stale, "ROUTES names routes the app no longer has: " + ", ".join(
        f"{m} {p}" for m, p in stale
    )


def test_every_class_is_used_and_every_caller_is_known() -> None:
    assert set(ROUTES.values()) <= set(CLASSES)
    for kind, allowed in CLASSES.items():
        assert allowed <= set(CALLERS), kind


def test_no_cross_agency_read_or_write(world: World, call_in_savepoint: Session) -> None:
    """Agency B's staff neither read nor change A's ticket, through the API or the panel."""
    before = call_in_savepoint.scalars(select(Ticket).where(Ticket.code == world.code)).one()
    state = (before.status, before.agency_id, before.updated_at)
    for method, path in ROUTES:
        if ROUTES[(method, path)] != "own-agency":
            continue
        status = _send(world, method, path, "staff_b")
        assert _refused(status), f"{method} {path}: {status}"
    call_in_savepoint.expire_all()
    after = call_in_savepoint.scalars(select(Ticket).where(Ticket.code == world.code)).one()
    assert (after.status, after.agency_id, after.updated_at) == state
