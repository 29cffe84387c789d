"""The chat widget and a demo portal page, served by the platform itself (no CDN)."""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from core.settings import get_settings

pages = APIRouter(include_in_schema=False)
STATIC_DIR = Path(__file__).resolve().parent / "static"

# The demo page runs under the policy a strict portal would have: no inline script or style.
# The widget needs nothing more (the page and the platform are one origin here; a portal lists
# the platform's origin in these directives, as the page explains).
DEMO_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'self'"
)


@pages.get("/webchat/widget.js")
def widget() -> FileResponse:
    return FileResponse(STATIC_DIR / "widget.js", media_type="text/javascript; charset=utf-8")


@pages.get("/webchat/widget.css")
def widget_style() -> FileResponse:
    return FileResponse(STATIC_DIR / "widget.css", media_type="text/css; charset=utf-8")


@pages.get("/webchat/demo.css")
def demo_style() -> FileResponse:
    return FileResponse(STATIC_DIR / "demo.css", media_type="text/css; charset=utf-8")


@pages.get("/")
def demo_page(request: Request) -> HTMLResponse:
    """A mock provincial portal page with the widget on it, showing how to embed it from this
    platform's address; with Zalo's domain-verification meta tag when
    TIEPDAN_ZALO_SITE_VERIFICATION is set (Zalo reads it from the home page before it accepts a
    webhook URL on this domain)."""
    text = (STATIC_DIR / "demo.html").read_text(encoding="utf-8")
    text = text.replace("{{origin}}", html.escape(str(request.base_url).rstrip("/")))
    verification = get_settings().zalo_site_verification
    if verification:
        tag = f'<meta name="zalo-platform-site-verification" content="{html.escape(verification)}">'
        text = text.replace("<head>", f"<head>\n{tag}", 1)
    return HTMLResponse(text, headers={"Content-Security-Policy": DEMO_CSP})
