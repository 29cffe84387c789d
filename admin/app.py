"""The staff panel: a FastAPI app of its own, mounted at /admin by tiepdan/app.py.

Pages are rendered on the server (Jinja2, autoescaped), HTMX refreshes parts of them, and every
script and style sheet is served from admin/static: the Content-Security-Policy allows no
inline script and no other origin, and no page may be framed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from admin import (
    auth_views,
    dashboard_views,
    desk_views,
    settings_views,
    ticket_views,
    views,
)
from admin.deps import LoginRequired
from admin.templating import render
from core.database import DATABASE_UNAVAILABLE_ERRORS
from core.errors import AppError, TooMany
from core.http import DATABASE_RETRY_AFTER_SECONDS, DATABASE_UNAVAILABLE

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """The panel's headers on every response; pages are never cached (they hold personal data)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith(("/admin/static/", "/static/"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _login_redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    target = "/admin/login/totp" if exc.second_factor else "/admin/login"
    if not exc.second_factor and request.method == "GET":
        target += "?next=" + quote(
            request.url.path + ("?" + request.url.query if request.url.query else "")
        )
    if request.headers.get("hx-request"):
        # An HTMX poll whose sign-in ended: send the whole page to the sign-in form.
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    response = render(
        request,
        "error.html",
        {"message": exc.message, "code": exc.status_code},
        status_code=exc.status_code,
    )
    if isinstance(exc, TooMany):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields = ", ".join(str(e.get("loc", ["?"])[-1]) for e in exc.errors())
    message = f"Thông tin gửi lên chưa hợp lệ ({fields}). Hãy kiểm tra lại và gửi lại."
    return render(request, "error.html", {"message": message, "code": 422}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = "Không tìm thấy trang này." if exc.status_code == 404 else str(exc.detail)
    return render(
        request,
        "error.html",
        {"message": message, "code": exc.status_code},
        status_code=exc.status_code,
    )


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    # The page needs no database: the sign-in could not be read, so it shows no one.
    logger.warning(
        "database unavailable on %s %s: %s",
        request.method,
        request.url.path,
        exc.__class__.__name__,  # not the statement: its parameters may be personal data
    )
    response = render(
        request, "error.html", {"message": DATABASE_UNAVAILABLE, "code": 503}, status_code=503
    )
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


async def _login_required(request: Request, exc: Exception) -> Response:
    return _login_redirect(request, exc)


def create_admin_app() -> FastAPI:
    """The panel as an app of its own (no OpenAPI: it speaks HTML)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for unavailable in DATABASE_UNAVAILABLE_ERRORS:
        app.add_exception_handler(unavailable, _database_unavailable)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (auth_views, views, ticket_views, desk_views, dashboard_views, settings_views):
        app.include_router(module.router)
    return app
