"""A Rasa that answers at once, for benchmarks that measure the platform's own path.

It speaks Rasa's REST channel (`POST /webhooks/rest/webhook`): every message gets one reply,
`Đã nhận: <message>`, so a test can tell which reply answers which message. It also takes the
HTTP API's `PUT /conversations/{id}/tracker/events`, recording each request in `requests`, and
refuses it (401) without `?token=<token>` when a token is set, as `rasa run --auth-token` does.

For the fault tests (tests/faults/) it can also misbehave: `delay` makes every turn answer that
many seconds late (a Rasa stuck on its tracker store), `fail_with` answers turns with that HTTP
status, and `stop()` then `start()` kill it and bring it back on the same port. Every turn it
was asked is in `turns`, `(sender, message)`, answered or not.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ECHO = "Đã nhận: {message}"


class InstantRasa:
    def __init__(self, token: str = "") -> None:
        self.token = token
        self.requests: list[dict[str, Any]] = []
        self.turns: list[tuple[str, str]] = []
        self.delay = 0.0
        self.fail_with: int | None = None
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _turn(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.turns.append((body["sender"], body["message"]))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_with is not None:
            return JSONResponse({"error": "injected"}, status_code=self.fail_with)
        return JSONResponse(
            [{"recipient_id": body["sender"], "text": ECHO.format(message=body["message"])}]
        )

    async def _replace_events(self, request: Request) -> JSONResponse:
        self.requests.append(
            {
                "method": request.method,
                "path": request.url.path,
                "token": request.query_params.get("token"),
                "body": await request.json(),
            }
        )
        if self.token and request.query_params.get("token") != self.token:
            return JSONResponse({"status": "failure", "code": 401}, status_code=401)
        sender = request.path_params["conversation_id"]
        return JSONResponse({"sender_id": sender, "events": []})

    async def _status(self, _request: Request) -> JSONResponse:
        return JSONResponse({"model_file": "instant"})

    def __enter__(self) -> InstantRasa:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> InstantRasa:
        """Serve, on the port it had before if it was stopped (a restarted Rasa)."""
        if not self.port:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                self.port = sock.getsockname()[1]
        app = Starlette(
            routes=[
                Route("/webhooks/rest/webhook", self._turn, methods=["POST"]),
                Route(
                    "/conversations/{conversation_id:path}/tracker/events",
                    self._replace_events,
                    methods=["PUT"],
                ),
                Route("/status", self._status),
                Route("/", self._status),
            ]
        )
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=1,  # a turn held by `delay` is cut off
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the fake Rasa did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Gone: the port refuses connections until `start()`. A turn it was holding (`delay`)
        is cut off unanswered."""
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=10)
