"""The web-chat widget in a real browser (headless Chromium, Playwright): on a 360 px phone and a
1280 px screen, with the keyboard alone, checked by axe-core, and embedded on another site that
has a strict Content-Security-Policy.

The real server runs (`tiepdan serve`) with Rasa down, so a report gets the gateway's own answer
with a tracking code; the conversation itself is tested with Rasa in test_rasa_conversation.py.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.processes import (
    CHROMIUM,
    free_port,
    launch_chromium,
    start,
    stop,
    wait_until_healthy,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed"),
]

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
REPORT = "Đèn đường trước số 12 Yersin, phường Thủ Dầu Một tắt cả tuần nay"
ACKNOWLEDGED = re.compile(r"ghi nhận với mã PA[0-9A-Z]{8}")
PHONE = {"width": 360, "height": 740}
SCREEN = {"width": 1280, "height": 900}
# Collected in the page by the browser itself (an init script is not subject to the page's CSP).
WATCH_CSP = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.cspViolations.push(e.violatedDirective + " " + e.blockedURI));
"""


class Portal:
    """Another site (another origin) that embeds the widget under a strict CSP."""

    def __init__(self, platform: str) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        socket = platform.replace("http://", "ws://")
        page = (
            '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>Cổng thông tin phường (thử nghiệm)</title></head><body><main>"
            "<h1>Cổng thông tin phường</h1><p>Trang của một site khác.</p></main>"
            f'<script src="{platform}/webchat/widget.js" defer></script></body></html>'
        ).encode()
        policy = (
            f"default-src 'none'; script-src {platform}; style-src {platform}; "
            f"img-src {platform} blob:; connect-src {platform} {socket}; base-uri 'none'"
        )

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Security-Policy", policy)
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def platform(
    database: str, nlu_model: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Portal]]:
    var = tmp_path_factory.mktemp("widget")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    portal = Portal(base)
    env = {
        **os.environ,
        "TIEPDAN_VAR_DIR": str(var),
        "TIEPDAN_RASA_URL": f"http://127.0.0.1:{free_port()}",  # Rasa is down
        "TIEPDAN_WEBCHAT_ORIGINS": portal.origin,
    }
    log = var / "server.log"
    server = start([sys.executable, "-m", "tiepdan", "serve", "--port", str(port)], log, env=env)
    try:
        wait_until_healthy(base, server, log, timeout=60)
        yield base, portal
    finally:
        stop(server)
        portal.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


def new_page(browser: Any, viewport: dict[str, int]) -> Any:
    context = browser.new_context(viewport=viewport, locale="vi-VN")
    context.add_init_script(WATCH_CSP)
    context.add_init_script(path=str(AXE))
    return context.new_page()


def open_chat(page: Any) -> Any:
    from playwright.sync_api import expect

    launcher = page.get_by_role("button", name="Phản ánh, kiến nghị")
    launcher.click()
    dialog = page.get_by_role("dialog", name="Tiếp Dân – Gửi phản ánh")
    expect(dialog).to_be_visible()
    return dialog


def report(page: Any) -> None:
    from playwright.sync_api import expect

    box = page.get_by_label("Nhập tin nhắn")
    box.fill(REPORT)
    box.press("Enter")
    expect(page.get_by_role("log", name="Tin nhắn")).to_contain_text(ACKNOWLEDGED, timeout=20_000)


def serious_violations(page: Any) -> list[str]:
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def within(box: dict[str, float], viewport: dict[str, int]) -> bool:
    return (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= viewport["width"]
        and box["y"] + box["height"] <= viewport["height"]
    )


def test_the_widget_works_on_a_360_px_phone(platform: tuple[str, Portal], browser: Any) -> None:
    base, _ = platform
    page = new_page(browser, PHONE)
    page.goto(base + "/")
    launcher = page.get_by_role("button", name="Phản ánh, kiến nghị")
    assert within(launcher.bounding_box(), PHONE)
    # Icons are drawn, not emoji (an emoji is an empty box without an emoji font).
    assert launcher.locator("svg[aria-hidden='true']").count() == 1
    assert not re.search(r"[\U0001F300-\U0001FAFF]", launcher.inner_text())
    dialog = open_chat(page)

    assert within(dialog.bounding_box(), PHONE)  # the whole screen, nothing beyond it
    for name in ("Đóng khung chat", "Gửi ảnh", "Gửi vị trí hiện tại", "Gửi"):
        button = page.get_by_role("button", name=name, exact=True)
        box = button.bounding_box()
        assert within(box, PHONE), name
        assert box["width"] >= 44 and box["height"] >= 44, (name, box)  # a finger's target
        if name != "Gửi":
            assert button.locator("svg[aria-hidden='true']").count() == 1, name
    assert within(page.get_by_label("Nhập tin nhắn").bounding_box(), PHONE)
    report(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.evaluate("window.cspViolations") == []  # the demo page's own strict CSP
    assert serious_violations(page) == []
    page.context.close()


def _tab_to(page: Any, name: str, limit: int = 40) -> None:
    """Press Tab until the button named `name` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement;
                       return e.tagName === "BUTTON" &&
                              (e.getAttribute("aria-label") || e.textContent.trim()); }"""
        )
        if focused == name:
            return
    raise AssertionError(f"the {name!r} button was not reached with the Tab key")


def _focus_ring(page: Any) -> tuple[str, float]:
    return page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
                   return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"""
    )


def test_the_widget_works_with_the_keyboard_alone(
    platform: tuple[str, Portal], browser: Any
) -> None:
    from playwright.sync_api import expect

    base, _ = platform
    page = new_page(browser, SCREEN)
    page.goto(base + "/")
    _tab_to(page, "Phản ánh, kiến nghị")
    assert _focus_ring(page)[0] != "none" and _focus_ring(page)[1] >= 2
    page.keyboard.press("Enter")
    expect(page.get_by_label("Nhập tin nhắn")).to_be_focused()
    page.keyboard.type(REPORT)
    page.keyboard.press("Enter")
    log = page.get_by_role("log", name="Tin nhắn")
    expect(log).to_contain_text(ACKNOWLEDGED, timeout=20_000)
    # The send button is off while a message is on its way (the history is read after the
    # replies show): a disabled button is no Tab stop.
    expect(page.get_by_role("button", name="Gửi", exact=True)).to_be_enabled()
    for name in ("Gửi ảnh", "Gửi vị trí hiện tại", "Gửi"):
        _tab_to(page, name, limit=5)
        style, width = _focus_ring(page)
        assert style != "none" and width >= 2, (name, style, width)  # the focus is visible
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(page.get_by_role("button", name="Phản ánh, kiến nghị")).to_be_focused()
    page.keyboard.press("Enter")  # open again: the conversation is still there
    expect(log).to_contain_text(ACKNOWLEDGED)
    page.context.close()

    # On a phone the chat covers the page: Tab goes round inside it, not to the page beneath.
    phone = new_page(browser, PHONE)
    phone.goto(base + "/")
    _tab_to(phone, "Phản ánh, kiến nghị")
    phone.keyboard.press("Enter")
    inside = []
    for _ in range(10):
        phone.keyboard.press("Tab")
        inside.append(phone.evaluate("!!document.activeElement.closest('#td-panel')"))
    assert all(inside), inside
    assert phone.get_by_role("dialog").get_attribute("aria-modal") == "true"
    phone.context.close()


@pytest.mark.parametrize("viewport", [PHONE, SCREEN], ids=["360px", "1280px"])
def test_axe_finds_no_serious_violation_with_the_chat_open(
    platform: tuple[str, Portal], browser: Any, viewport: dict[str, int]
) -> None:
    base, _ = platform
    page = new_page(browser, viewport)
    page.goto(base + "/")
    assert serious_violations(page) == []  # the demo page, chat closed
    open_chat(page)
    report(page)
    assert serious_violations(page) == []
    page.context.close()


def test_the_widget_works_on_another_site_with_a_strict_csp(
    platform: tuple[str, Portal], browser: Any
) -> None:
    _, portal = platform
    page = new_page(browser, SCREEN)
    page.goto(portal.origin + "/")
    open_chat(page)
    report(page)  # across origins: TIEPDAN_WEBCHAT_ORIGINS lets the portal call the platform
    assert page.evaluate("window.cspViolations") == []
    # The style sheet came from the platform: the panel is laid out, not a bare list.
    panel = page.locator("#td-panel")
    assert panel.evaluate("el => getComputedStyle(el).position") == "fixed"
    page.context.close()
