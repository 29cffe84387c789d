"""Starting and stopping the real processes the end-to-end tests run."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from tiepdan.processes import NotServing, wait_for_url


def free_port() -> int:
    """A port nothing listens on (also how a test points at a Rasa that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening_on(port: int) -> set[str]:
    """The addresses a TCP port is listened on, read from the kernel (/proc/net/tcp, tcp6)."""
    addresses = set()
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            # The kernel prints each 32-bit word of the address in host (little-endian) order.
            words = [bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, len(address), 8)]
            addresses.add(str(ipaddress.ip_address(b"".join(words)[:width])))
    return addresses


def start(
    command: list[str], log_path: Path, *, env: dict[str, str], cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a process in its own session (so `stop` ends it and its children), its output in
    `log_path` for the assertion messages."""
    with log_path.open("wb") as log:  # the child keeps its own copy of the file
        return subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_for(url: str, process: subprocess.Popen[bytes], log_path: Path, *, timeout: float) -> None:
    """Wait for `url` to answer 200; fail with the process's log if it dies or takes too long."""
    try:
        wait_for_url(url, [process], timeout=timeout, probe_timeout=1)
    except NotServing as exc:
        raise AssertionError(f"{exc}\n{log_path.read_text()[-3000:]}") from None


def wait_until_healthy(
    base_url: str, process: subprocess.Popen[bytes], log_path: Path, *, timeout: float
) -> None:
    wait_for(f"{base_url}/healthz", process, log_path, timeout=timeout)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started with start_new_session=True, and everything it started."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def launch_chromium(playwright: Any) -> Any:
    """Debian's headless Chromium: Playwright's own browser download does not work here."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )


_FILE_A_TICKET = """
from core.database import session_scope
from feedback.auth import SERVICE
from feedback.schemas import TicketCreate
from feedback.service import create_ticket

with session_scope() as session:
    ticket = create_ticket(
        session,
        data=TicketCreate(
            description="Rác ứ đọng ở đầu hẻm 45 đường Yersin ba ngày nay.",
            ward_code="25747",
            category="moi_truong",
        ),
        actor=SERVICE,
    )
    code = ticket.code
print(code)
"""


def file_a_ticket(env: dict[str, str]) -> str:
    """File a ticket in a process of its own with these settings (its database, its broker and
    queue); its code. The routing job goes where that process's settings say."""
    done = subprocess.run(
        [sys.executable, "-c", _FILE_A_TICKET], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
