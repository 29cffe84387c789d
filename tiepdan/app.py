"""The application factory: mounts every package's routes on one FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from admin.app import create_admin_app
from bot import message_push
from bot.api import desk as conversations_router
from bot.api import router as bot_router
from bot.webchat_api import router as webchat_router
from bot.webhooks import router as webhooks_router
from core.database import dispose_engine, get_engine
from core.http import BodySizeLimit, WebchatCors, install_error_handlers
from core.settings import get_settings
from core.timing import ServerTiming
from feedback.api import router as feedback_router
from feedback.attachments import URL_PREFIX
from integrations.ioc.api import router as ioc_router
from integrations.ioc.open311_api import router as open311_router
from integrations.webchat.pages import pages as webchat_pages
from tiepdan.health import router as health_router
from tiepdan.metrics_api import router as metrics_router

DESCRIPTION = """
Tiếp Dân: citizens and businesses file complaints, suggestions and requests through Zalo,
Telegram or a web chat; the platform classifies and routes them to the responsible agency,
staff resolve them, and satisfaction and SLA figures feed the province's IOC.

Staff endpoints need `Authorization: Bearer <token>` from `POST /api/v1/auth/token`.
Every error is JSON: `{"detail": "..."}`.
"""


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    get_engine()
    settings = get_settings()
    # On PostgreSQL, one connection per process listens for new messages for the open web
    # chats, instead of each chat polling (bot/message_push.py).
    push = await message_push.start(settings.database_url, mode=settings.webchat_push)
    try:
        yield
    finally:
        await message_push.stop(push)
        dispose_engine()


def create_app() -> FastAPI:
    """Build the whole HTTP application."""
    settings = get_settings()
    app = FastAPI(
        title="Tiếp Dân API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=_lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        # Photos up to twice their limit are read, so that a refusal is kept in the chat;
        # anything larger is cut off here.
        path_limits={
            URL_PREFIX.rstrip("/"): 2 * settings.max_photo_bytes,
            "/admin/": settings.max_document_bytes + 100_000,  # evidence uploads in the panel
        },
        pattern_limits={
            r"/api/v1/tickets/[^/]+/attachments": settings.max_document_bytes + 100_000
        },
    )
    app.add_middleware(WebchatCors, prefix="/api/v1/webchat/", origins=settings.webchat_origin_list)
    app.add_middleware(ServerTiming)  # added last: the outermost, so `app` counts everything
    app.include_router(health_router)
    app.include_router(feedback_router)
    app.include_router(bot_router)
    app.include_router(conversations_router)
    app.include_router(webchat_router)
    app.include_router(webhooks_router)
    app.include_router(webchat_pages)
    app.include_router(ioc_router)
    app.include_router(metrics_router)
    app.include_router(open311_router)
    app.mount("/admin", create_admin_app())  # the staff panel (admin/app.py)
    return app
