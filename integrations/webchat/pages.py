"""The chat widget and a demo portal page, served by the platform itself (no CDN)."""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from core.settings import get_settings

pages = APIRouter(include_in_schema=False)
STATIC_DIR = Path(__file__).resolve().parent / "static"


@pages.get("/webchat/widget.js")
def widget() -> FileResponse:
    return FileResponse(STATIC_DIR / "widget.js", media_type="text/javascript; charset=utf-8")


@pages.get("/", response_model=None)
def demo_page() -> FileResponse | HTMLResponse:
    """A mock provincial portal page with the widget on it; with Zalo's domain-verification
    meta tag when TIEPDAN_ZALO_SITE_VERIFICATION is set (Zalo reads it from the home page
    before it accepts a webhook URL on this domain)."""
    page = STATIC_DIR / "demo.html"
    verification = get_settings().zalo_site_verification
    if not verification:
        return FileResponse(page, media_type="text/html; charset=utf-8")
    tag = f'<meta name="zalo-platform-site-verification" content="{html.escape(verification)}">'
    text = page.read_text(encoding="utf-8").replace("<head>", f"<head>\n{tag}", 1)
    return HTMLResponse(text)
