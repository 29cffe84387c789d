"""A Rasa that answers at once, for benchmarks that measure the platform's own path.

It speaks Rasa's REST channel (`POST /webhooks/rest/webhook`): every message gets one reply,
`Đã nhận: <message>`, so a test can tell which reply answers which message.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ECHO = "Đã nhận: {message}"


class InstantRasa:
    def __init__(self) -> None:
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _turn(self, request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse(
            [{"recipient_id": body["sender"], "text": ECHO.format(message=body["message"])}]
        )

    async def _status(self, _request: Request) -> JSONResponse:
        return JSONResponse({"model_file": "instant"})

    def __enter__(self) -> InstantRasa:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        app = Starlette(
            routes=[
                Route("/webhooks/rest/webhook", self._turn, methods=["POST"]),
                Route("/status", self._status),
                Route("/", self._status),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        while not self._server.started:
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=10)
