"""Liveness and readiness: is the process up, and can it reach what it depends on."""

from __future__ import annotations

import logging

import httpx
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from kombu import Connection
from sqlalchemy import text

from core.database import get_engine
from core.settings import get_settings

logger = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


def _database_up() -> bool:
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        logger.warning("readiness: database unreachable", exc_info=True)
        return False


def _broker_up() -> bool:
    try:
        with Connection(get_settings().broker_url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        logger.warning("readiness: broker unreachable", exc_info=True)
        return False


def _rasa_up() -> bool:
    try:
        return httpx.get(get_settings().rasa_url, timeout=1.0).status_code < 500
    except httpx.HTTPError:
        return False


@router.get("/readyz")
def readyz() -> JSONResponse:
    """Each dependency up or down. Ready needs the database and the broker; without Rasa the
    platform still takes messages (they become tickets), so Rasa is reported, not required."""
    checks = {
        "database": "up" if _database_up() else "down",
        "broker": "up" if _broker_up() else "down",
        "rasa": "up" if _rasa_up() else "down",
    }
    ready = checks["database"] == "up" and checks["broker"] == "up"
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)
