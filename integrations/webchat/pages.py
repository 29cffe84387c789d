"""The chat widget and a demo portal page, served by the platform itself (no CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

pages = APIRouter(include_in_schema=False)
STATIC_DIR = Path(__file__).resolve().parent / "static"


@pages.get("/webchat/widget.js")
def widget() -> FileResponse:
    return FileResponse(STATIC_DIR / "widget.js", media_type="text/javascript; charset=utf-8")


@pages.get("/")
def demo_page() -> FileResponse:
    """A mock provincial portal page with the widget on it."""
    return FileResponse(STATIC_DIR / "demo.html", media_type="text/html; charset=utf-8")
