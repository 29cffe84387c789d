"""The whole platform as processes, started once per test run and shared by the end-to-end
tests: the API, a Celery worker with beat, Rasa and its action server, and fake Telegram (and
Zalo) servers the channels talk to.

Rasa takes half a minute to start, so there is one of it per run (tests/e2e/conftest.py); a test
may stop, pause or restart it, and kill and restart the worker, and leaves them running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, select

from bot import assistant
from bot.models import Conversation, Message, WebchatSession
from core.database import session_scope
from core.settings import Settings
from feedback.models import (
    Contact,
    ContactIdentity,
    StaffUser,
    SurveyResponse,
    Ticket,
    TicketEvent,
)
from integrations.models import ButtonPayload
from tests.e2e.processes import start, stop, wait_for, wait_until_healthy
from tests.fakes.telegram import FakeBotApi
from tests.fakes.zalo import FakeZalo

TELEGRAM_SECRET = "e2e-telegram-webhook-secret-0123456789"


class Stack:
    """The running platform; `platform` is its base URL."""

    def __init__(
        self,
        tmp: Path,
        settings: Settings,
        env: dict[str, str],
        *,
        port: int,
        rasa_port: int,
        actions_port: int,
        telegram: FakeBotApi,
        zalo: FakeZalo,
    ) -> None:
        self.tmp, self.settings, self.env = tmp, settings, env
        self.platform = f"http://127.0.0.1:{port}"
        self.port, self.rasa_port, self.actions_port = port, rasa_port, actions_port
        self.telegram, self.zalo = telegram, zalo
        self.rasa: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self._processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        server = start(
            [sys.executable, "-m", "tiepdan", "serve", "--port", str(self.port)],
            self.tmp / "server.log",
            env=self.env,
        )
        actions = start(
            assistant.actions_command(self.settings, port=self.actions_port),
            self.tmp / "actions.log",
            env=assistant.rasa_env(self.settings),
            cwd=assistant.PROJECT_DIR,
        )
        self._processes += [server, actions]
        self.start_worker()
        wait_until_healthy(self.platform, server, self.tmp / "server.log", timeout=60)
        wait_for(
            f"http://127.0.0.1:{self.actions_port}/health",
            actions,
            self.tmp / "actions.log",
            timeout=120,
        )
        self.start_rasa()

    def stop(self) -> None:
        self.stop_rasa()
        if self.worker is not None:
            stop(self.worker)
        for process in self._processes:
            stop(process)

    # --- The worker ------------------------------------------------------------------------

    def start_worker(self) -> None:
        self.worker = start(
            [sys.executable, "-m", "tiepdan", "worker", "--beat"],
            self.tmp / "worker.log",
            env=self.env,
        )

    def kill_worker(self) -> None:
        """SIGKILL, as a crash or the kernel's OOM killer would: no clean-up of any kind."""
        assert self.worker is not None
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait()
        self.worker = None

    # --- Rasa ------------------------------------------------------------------------------

    def start_rasa(self) -> None:
        log_path = self.tmp / "rasa.log"
        self.rasa = start(
            assistant.server_command(self.settings, port=self.rasa_port),
            log_path,
            env=assistant.rasa_env(self.settings),
            cwd=assistant.PROJECT_DIR,
        )
        wait_for(f"http://127.0.0.1:{self.rasa_port}/status", self.rasa, log_path, timeout=180)

    def stop_rasa(self) -> None:
        if self.rasa is not None:
            stop(self.rasa)
            self.rasa = None

    def pause_rasa(self) -> None:
        """Rasa hangs: it still accepts connections and keeps its conversations, but answers
        nothing until resumed, like a server stuck on a slow tracker store."""
        assert self.rasa is not None
        os.killpg(self.rasa.pid, signal.SIGSTOP)

    def resume_rasa(self) -> None:
        assert self.rasa is not None
        os.killpg(self.rasa.pid, signal.SIGCONT)

    def tracker(self, sender: str) -> dict[str, Any]:
        """Rasa's own record of a conversation (its HTTP API)."""
        token = {"token": self.settings.rasa_token} if self.settings.rasa_token else {}
        response = httpx.get(
            f"http://127.0.0.1:{self.rasa_port}/conversations/{sender}/tracker",
            params=token,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        tracker: dict[str, Any] = response.json()
        return tracker


CHANNELS = ("web", "telegram", "zalo")


# Staff accounts the end-to-end tests make are named so; they go with the rest at the end.
STAFF_PREFIX = "e2e-"


def clean_up() -> None:
    """Remove what the end-to-end conversations left in the run's database."""
    with session_scope() as session:
        tickets = select(Ticket.id).where(Ticket.channel.in_(CHANNELS))
        staff_ids = select(StaffUser.id).where(StaffUser.username.startswith(STAFF_PREFIX))
        session.execute(delete(SurveyResponse).where(SurveyResponse.ticket_id.in_(tickets)))
        session.execute(
            delete(TicketEvent).where(
                TicketEvent.ticket_id.in_(tickets) | TicketEvent.actor_id.in_(staff_ids)
            )
        )
        contact_ids = list(
            session.scalars(
                select(ContactIdentity.contact_id).where(ContactIdentity.channel.in_(CHANNELS))
            )
        )
        session.execute(delete(Ticket).where(Ticket.channel.in_(CHANNELS)))
        session.execute(delete(ContactIdentity).where(ContactIdentity.channel.in_(CHANNELS)))
        session.execute(delete(Contact).where(Contact.id.in_(contact_ids)))
        conversations = select(Conversation.id).where(Conversation.channel.in_(CHANNELS))
        session.execute(
            delete(ButtonPayload).where(ButtonPayload.conversation_id.in_(conversations))
        )
        session.execute(delete(Message).where(Message.conversation_id.in_(conversations)))
        session.execute(delete(WebchatSession))
        session.execute(delete(Conversation).where(Conversation.channel.in_(CHANNELS)))
        session.execute(delete(StaffUser).where(StaffUser.username.startswith(STAFF_PREFIX)))
