"""HTTP plumbing shared by every router: the session dependency, JSON errors, body limits."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

import anyio
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.database import DATABASE_UNAVAILABLE_ERRORS, end_session, get_session_factory
from core.errors import AppError, TooMany

logger = logging.getLogger(__name__)


async def get_db_session() -> AsyncIterator[Session]:
    """The request's session; committed when the route returns, before the response is sent.

    The same life as `session_scope`. It is async because opening a session does no I/O (the
    connection is taken at the first query), so only the end needs the thread pool: one trip
    per request instead of two. Each trip costs about as much CPU as a small query.
    """
    session = get_session_factory()()
    try:
        yield session
    except BaseException:
        with anyio.CancelScope(shield=True):  # a client that hangs up must not leak the session
            await run_in_threadpool(end_session, session, commit=False)
        raise
    with anyio.CancelScope(shield=True):
        await run_in_threadpool(end_session, session, commit=True)


# scope="function": commit before the response goes out, so a 201 means the row is saved.
SessionDep = Annotated[Session, Depends(get_db_session, scope="function")]

# Ids and cursors from a URL are checked against what the database can hold (BIGINT): a larger
# number is a 422 with a reason, not an overflow in the driver (a 500).
MAX_ID = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="A row id")]
AfterId = Annotated[int, Query(ge=0, le=MAX_ID, description="Only what comes after this id")]


def client_ip(request: Request) -> str:
    """The address a request came from. Behind a proxy, uvicorn puts the client's address here
    from X-Forwarded-For when the proxy is trusted (FORWARDED_ALLOW_IPS; 127.0.0.1 by default)."""
    return request.client.host if request.client else "unknown"


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form")]
    return ".".join(parts) or "body"


async def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(
        {"detail": exc.message}, status_code=exc.status_code, headers=error_headers(exc)
    )


def error_headers(exc: AppError) -> dict[str, str] | None:
    """The headers an error's status asks for: whom to authenticate with, when to come back."""
    if exc.status_code == 401:
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, TooMany):
        return {"Retry-After": str(exc.retry_after)}
    return None


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_name(tuple(err.get("loc", ()))), "message": err.get("msg", "")}
        for err in exc.errors()
    ]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return JSONResponse({"detail": f"Invalid request: {summary}", "errors": errors}, 422)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


def _where(connection: HTTPConnection) -> str:
    """The request's method and path ("WebSocket /path" for a WebSocket, which has no method):
    the handlers below also catch a WebSocket's errors."""
    return f"{connection.scope.get('method', 'WebSocket')} {connection.url.path}"


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    # A value that passed validation but that the database cannot store: a NUL character in a
    # text (PostgreSQL refuses it anywhere), a number out of range. The request is at fault.
    logger.warning("database refused a value on %s: %s", _where(request), exc)
    detail = "Invalid request: a value cannot be stored (a NUL character, a number out of range)."
    return JSONResponse({"detail": detail}, status_code=422)


# The database cannot be reached: the request did not happen, and asking again in a moment
# will work. The widget shows `detail` as it is.
DATABASE_UNAVAILABLE = "Hệ thống đang tạm gián đoạn. Bạn vui lòng thử lại sau ít phút."
DATABASE_RETRY_AFTER_SECONDS = 5


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The pool has thrown away the connection that failed (SQLAlchemy sees the disconnect), so
    # the next request opens a new one: nothing to restart.
    logger.warning("database unavailable on %s: %s", _where(request), exc.__class__.__name__)
    return JSONResponse(
        {"detail": DATABASE_UNAVAILABLE},
        status_code=503,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s", _where(request))
    return JSONResponse({"detail": "Internal error. It has been logged."}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Render every error as JSON with a clear `detail`."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DataError, _data_error)
    for unavailable in DATABASE_UNAVAILABLE_ERRORS:
        app.add_exception_handler(unavailable, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected_error)


class BodySizeLimit:
    """Refuse request bodies over `max_bytes` with 413, whether or not Content-Length is sent.

    `path_limits` gives other limits to paths starting with a prefix (photo uploads are larger
    than any JSON body); `pattern_limits` to paths matching a regular expression (an upload
    route with a variable segment).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        path_limits: Mapping[str, int] | None = None,
        pattern_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = dict(path_limits or {})
        self.pattern_limits = {re.compile(p): limit for p, limit in (pattern_limits or {}).items()}

    def _limit(self, path: str) -> int:
        for prefix, limit in self.path_limits.items():
            if path.startswith(prefix):
                return limit
        for pattern, limit in self.pattern_limits.items():
            if pattern.fullmatch(path):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self._limit(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await self._refuse(send, max_bytes)
            return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise _BodyTooLarge(max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await self._refuse(send, max_bytes)

    async def _refuse(self, send: Send, max_bytes: int) -> None:
        response = JSONResponse({"detail": _too_large(max_bytes)}, status_code=413)
        await response({"type": "http"}, _empty_receive, send)


def _too_large(max_bytes: int) -> str:
    return f"Request body too large: the limit is {max_bytes} bytes."


class _BodyTooLarge(StarletteHTTPException):
    """An HTTPException because FastAPI turns any other error raised while it reads the body
    into a 400; this one it re-raises, and the error handlers render it as a JSON 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=_too_large(max_bytes))


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}


class WebchatCors:
    """CORS for the web chat's API only, for the portals that embed the widget.

    The staff API and the panel are never opened to other origins: only paths under `prefix`
    get Starlette's CORS handling, with the configured origins; preflights of other paths pass
    through (and find no route that answers OPTIONS).
    """

    def __init__(self, app: ASGIApp, *, prefix: str, origins: list[str]) -> None:
        self.app = app
        self.prefix = prefix
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith(self.prefix):
            await self.cors(scope, receive, send)
            return
        await self.app(scope, receive, send)
