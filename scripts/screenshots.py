"""The README's screenshots, taken from a seeded demo so that they never go stale.

    make screenshots          (or: .venv/bin/python scripts/screenshots.py [--out DIR])

A platform of its own runs in a temporary folder: SQLite, the demo logins, 300 demo tickets
with a fixed seed (the same story each time, dated from today), the API, a worker and Rasa with
its action server (Rasa's environment and model are built first if missing: `make
screenshots` depends on `make rasa-venv`). Headless Chromium (Playwright, /usr/bin/chromium)
then takes:

- webchat.png: the demo portal page with the chat open in the middle of a report, typed and
  answered for real through Rasa (the summary before "send", after a photo and a skipped phone);
- queue.png: Sở Xây dựng's queue, as its officer (the demo login soxaydung) sees it;
- ticket.png: one of that queue's closed tickets with its history, evidence and rating;
- dashboard.png: the dashboards, as the dispatcher sees them. The IOC's own dashboard is being
  built in another branch; until then this is the admin panel's /admin/dashboard.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the project's packages come from here

from feedback.demo_photos import street_scene  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DEMO_SEED = "2025"
REPORT = "Đèn đường trước số 12 Yersin, phường Phú Cường, TP Thủ Dầu Một tắt cả tuần nay"
PASSWORDS = {"soxaydung": "soxaydung-demo-123", "dieuphoi": "dieuphoi-demo-123"}
# Settings kept from the caller's environment: where the trained models and Rasa's venv are.
KEEP = ("TIEPDAN_CACHE_DIR", "TIEPDAN_RASA_VENV")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Demo:
    """The platform in a folder of its own, on free ports."""

    def __init__(self, var: Path) -> None:
        self.var = var
        self.port, rasa, actions = free_port(), free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.rasa = f"http://127.0.0.1:{rasa}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TIEPDAN_") or k in KEEP},
            "PORT": str(self.port),
            "TIEPDAN_VAR_DIR": str(var),
            "TIEPDAN_RASA_URL": self.rasa,
            "TIEPDAN_ACTIONS_URL": f"http://127.0.0.1:{actions}/webhook",
        }
        self.children: list[subprocess.Popen[bytes]] = []

    def tiepdan(self, *arguments: str) -> None:
        print(f"  tiepdan {' '.join(arguments)}", flush=True)
        with (self.var / "setup.log").open("ab") as log:
            command = [sys.executable, "-m", "tiepdan", *arguments]
            if subprocess.run(command, env=self.env, cwd=ROOT, stdout=log, stderr=log).returncode:
                sys.exit(f"`tiepdan {' '.join(arguments)}` failed: see {self.var / 'setup.log'}")

    def start(self, name: str, *arguments: str) -> None:
        with (self.var / f"{name}.log").open("ab") as log:
            self.children.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tiepdan", *arguments],
                    env=self.env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def wait(self, url: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(child.poll() is not None for child in self.children):
                sys.exit(f"A process of the demo stopped: see the logs in {self.var}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        sys.exit(f"{url} did not answer within {timeout:.0f} s: see the logs in {self.var}")

    def stop(self) -> None:
        for child in self.children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)


@contextmanager
def running_demo(keep: bool) -> Iterator[Demo]:
    var = Path(tempfile.mkdtemp(prefix="tiepdan-screenshots-"))
    demo = Demo(var)
    try:
        print(f"A demo platform in {var}:", flush=True)
        demo.tiepdan("db", "upgrade")
        demo.tiepdan("seed", "--demo")
        demo.tiepdan("nlu", "train")
        demo.tiepdan("seed", "--demo-tickets", "300", "--demo-seed", DEMO_SEED)
        demo.tiepdan("bot", "train")
        demo.start("api", "serve", "--port", str(demo.port), "--no-access-log")
        demo.start("worker", "worker", "--beat")
        demo.start("rasa", "bot", "serve")
        demo.wait(f"{demo.base}/readyz")
        demo.wait(f"{demo.rasa}/status")
        yield demo
    finally:
        demo.stop()
        if keep:
            print(f"The demo's files are kept in {var}")
        else:
            shutil.rmtree(var, ignore_errors=True)


# --- The pictures -------------------------------------------------------------------------------


def webchat(browser: Any, demo: Demo, out: Path) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="vi-VN")
    page = context.new_page()
    page.goto(demo.base + "/")
    page.get_by_role("button", name="Phản ánh, kiến nghị").click()
    log = page.get_by_role("log", name="Tin nhắn")
    box = page.get_by_label("Nhập tin nhắn")
    box.fill(REPORT)
    box.press("Enter")
    expect(log).to_contain_text("ảnh chụp hiện trường", timeout=30_000)
    photo = demo.var / "den-duong.png"
    photo.write_bytes(street_scene(7, fixed=0))
    page.get_by_label("Chọn ảnh để gửi").set_input_files(str(photo))
    expect(log).to_contain_text("số điện thoại", timeout=30_000)
    page.get_by_role("button", name="Không", exact=True).click()
    expect(log).to_contain_text("Bạn kiểm tra lại", timeout=30_000)
    page.get_by_label("Nhập tin nhắn").blur()  # no caret in the picture
    page.wait_for_timeout(500)
    page.screenshot(path=str(out / "webchat.png"))
    context.close()


def signed_in(browser: Any, demo: Demo, username: str, height: int = 860) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": height}, locale="vi-VN")
    page = context.new_page()
    page.goto(f"{demo.base}/admin/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(PASSWORDS[username])
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url("**/admin/**")
    return page


def a_told_ticket(demo: Demo) -> str:
    """A closed ticket of Sở Xây dựng with a citizen's photo, a reply and a rating."""
    token = httpx.post(
        f"{demo.base}/api/v1/auth/token",
        data={"username": "soxaydung", "password": PASSWORDS["soxaydung"]},
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    url, params = f"{demo.base}/api/v1/tickets", {"status": "closed", "limit": 100}
    tickets = httpx.get(url, params=params, headers=headers).json()["items"]
    for ticket in tickets:
        kinds = {event["kind"] for event in ticket["events"]}
        if ticket["photos"] and ticket["rating"] and "reply" in kinds:
            return str(ticket["code"])
    return str(tickets[0]["code"])


def admin(browser: Any, demo: Demo, out: Path) -> None:
    page = signed_in(browser, demo, "soxaydung")
    page.goto(f"{demo.base}/admin/queue")
    page.screenshot(path=str(out / "queue.png"))
    page.goto(f"{demo.base}/admin/tickets/{a_told_ticket(demo)}")
    page.screenshot(path=str(out / "ticket.png"), full_page=True)
    page.context.close()

    page = signed_in(browser, demo, "dieuphoi", height=1100)
    page.goto(f"{demo.base}/admin/dashboard")
    page.wait_for_selector("canvas")
    page.wait_for_timeout(1500)  # the charts' first animation
    page.screenshot(path=str(out / "dashboard.png"))  # the first screen: volume, SLA, CSAT
    page.context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT}")
    parser.add_argument("--keep", action="store_true", help="keep the demo's folder and logs")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit("Chromium is needed (apt-get install chromium).")
    args.out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    with running_demo(args.keep) as demo, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        webchat(browser, demo, args.out)
        admin(browser, demo, args.out)
        browser.close()
    for path in sorted(args.out.glob("*.png")):
        print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
