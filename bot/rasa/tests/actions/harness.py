"""What the action tests share: tracker snapshots stored as JSON, and the platform's API played
by a real HTTP server on loopback that records each request and answers what the test says.

The actions run in Rasa's Python 3.10 environment, without the platform; the platform's side of
these calls is tested against the real API in the platform's own tests (tests/bot/).
"""

from __future__ import annotations

import copy
import json
import os
import unittest
from pathlib import Path
from typing import Any

from actions import platform
from aiohttp import web
from aiohttp.test_utils import TestServer
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

TRACKERS = Path(__file__).resolve().parent / "trackers"


def tracker(name: str, *, slots: dict[str, Any] | None = None, **latest: Any) -> Tracker:
    """The snapshot `trackers/<name>.json`, with some slots or latest-message fields changed."""
    state = json.loads((TRACKERS / f"{name}.json").read_text(encoding="utf-8"))
    state["slots"].update(slots or {})
    state["latest_message"].update(latest)
    return Tracker.from_dict(copy.deepcopy(state))


class FakePlatform:
    """The platform's HTTP API: `answer(method, path, status, body)` sets a reply; every
    request is kept in `requests` as (method, path, query, json body)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self._answers: dict[tuple[str, str], tuple[int, Any]] = {}
        self._server: TestServer | None = None

    def answer(self, method: str, path: str, status: int = 200, body: Any = None) -> None:
        self._answers[(method, path)] = (status, {} if body is None else body)

    def calls(self, method: str, path: str) -> list[tuple[dict[str, str], Any]]:
        return [(q, b) for m, p, q, b in self.requests if (m, p) == (method, path)]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.requests.append((request.method, request.path, dict(request.query), body))
        status, answer = self._answers.get((request.method, request.path), (404, {}))
        return web.json_response(answer, status=status)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        return str(self._server.make_url("")).rstrip("/")

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.close()


class ActionTestCase(unittest.IsolatedAsyncioTestCase):
    """Each test gets a fresh fake platform, and the actions' client pointed at it."""

    async def asyncSetUp(self) -> None:
        self.platform = FakePlatform()
        os.environ["TIEPDAN_PLATFORM_URL"] = await self.platform.start()
        self.dispatcher = CollectingDispatcher()

    async def asyncTearDown(self) -> None:
        if platform._session is not None:
            await platform._session.close()
            platform._session = None
        await self.platform.stop()

    async def platform_down(self) -> None:
        """The platform stops answering: the next call finds nobody listening."""
        await self.platform.stop()

    def said(self) -> list[str]:
        return [m.get("text") or "" for m in self.dispatcher.messages]

    def buttons(self) -> list[dict[str, Any]]:
        return [b for m in self.dispatcher.messages for b in m.get("buttons") or []]
