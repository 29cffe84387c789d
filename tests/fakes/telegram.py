"""A fake Telegram Bot API server on loopback, for tests and benchmarks.

It answers the methods the platform calls the way the Bot API does (`{"ok": true, "result":
...}`, or `{"ok": false, "error_code", "description", "parameters"}` with that HTTP status),
serves files at /file/bot<token>/<path>, and records every call. A test scripts what comes next
for a method: an error (429 with retry_after, 403, 500), or a delay (a timeout).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

BOT_ID = 7000000001
TOKEN = "7000000001:FAKE-token-for-tests"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    ok: bool = True  # False: the call was answered with an error
    result: Any = None  # what the Bot API answered (a sent Message: its message_id)
    at: float = field(default_factory=time.monotonic)


class FakeBotApi:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.in_flight = 0  # calls being held by delay_next
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, bytes)
        self._script: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        self._message_ids = itertools.count(100)
        self._lock = threading.Lock()
        self._new_call = threading.Condition(self._lock)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- What tests use --------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(
        self, method: str, code: int, description: str, *, retry_after: int | None = None
    ) -> None:
        """The next call of `method` fails as the Bot API fails (429, 403, 400, 500...)."""
        self._script[method].append(
            {"code": code, "description": description, "retry_after": retry_after}
        )

    def delay_next(self, method: str, seconds: float) -> None:
        """The next call of `method` answers only after `seconds` (a client times out first).

        A client that hangs up meanwhile (it timed out, or its process was killed) did not get
        its message through: the call is not recorded, as if the request never arrived whole.
        """
        self._script[method].append({"delay": seconds})

    def add_file(self, file_id: str, data: bytes, file_path: str = "photos/file_0.jpg") -> None:
        self.files[file_id] = (file_path, data)

    def calls_of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def sent_texts(self, chat_id: int | str) -> list[str]:
        """The texts the Bot API accepted for a chat, in order."""
        return [
            str(c.params.get("text"))
            for c in self.calls_of("sendMessage")
            if c.ok and str(c.params.get("chat_id")) == str(chat_id)
        ]

    def wait_for_text(self, chat_id: int | str, text: str, *, timeout: float = 30) -> Call:
        """The first accepted sendMessage to `chat_id` whose text contains `text`."""
        deadline = time.monotonic() + timeout
        with self._new_call:
            while True:
                for call in self.calls:
                    if (
                        call.ok
                        and call.method == "sendMessage"
                        and str(call.params.get("chat_id")) == str(chat_id)
                        and text in str(call.params.get("text"))
                    ):
                        return call
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no message with {text!r} to {chat_id} in {timeout} s")
                self._new_call.wait(left)

    def wait_for(self, method: str, count: int, *, timeout: float = 30) -> list[Call]:
        """Wait until `method` was called `count` times; its calls."""
        deadline = time.monotonic() + timeout
        while len(calls := self.calls_of(method)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{method}: {len(calls)} calls of {count} in {timeout} s")
            time.sleep(0.05)
        return calls

    # --- The server ------------------------------------------------------------------------

    def start(self) -> FakeBotApi:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._method, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._file, methods=["GET"]),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake Bot API did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeBotApi:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    async def _method(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.path_params["method"]
        params, files = await _params(request)
        with self._lock:
            step = self._script[method].popleft() if self._script[method] else None
        if step and "delay" in step:
            with self._lock:
                self.in_flight += 1
            try:
                await asyncio.sleep(step["delay"])
                if await request.is_disconnected():
                    return Response(status_code=499)
            finally:
                with self._lock:
                    self.in_flight -= 1
        failure = step if step and "code" in step else None
        if method == "getFile" and params.get("file_id") not in self.files:
            failure = {"code": 400, "description": "Bad Request: invalid file_id"}
        result = None if failure is not None else self._result(method, params)
        with self._lock:
            self.calls.append(Call(method, params, files, ok=failure is None, result=result))
            self._new_call.notify_all()
        if failure is not None:
            return _error(failure["code"], failure["description"], failure.get("retry_after"))
        return JSONResponse({"ok": True, "result": result})

    async def _file(self, request: Request) -> Response:
        path = request.path_params["path"]
        for file_path, data in self.files.values():
            if file_path == path and request.path_params["token"] == self.token:
                return Response(data, media_type="application/octet-stream")
        return Response(status_code=404)

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Tiếp Dân",
                "username": "tiepdan_bot",
            }
        if method in ("sendMessage", "sendPhoto"):
            message: dict[str, Any] = {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Tiếp Dân"},
            }
            if method == "sendMessage":
                message["text"] = params.get("text", "")
            else:
                message["photo"] = [
                    {"file_id": "sent-photo", "file_unique_id": "u1", "width": 1, "height": 1}
                ]
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            return message
        if method == "getFile":
            file_id = params["file_id"]
            file_path, data = self.files[file_id]
            return {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "file_size": len(data),
                "file_path": file_path,
            }
        if method == "editMessageReplyMarkup":
            return True
        return True  # answerCallbackQuery, setWebhook, deleteWebhook


async def _params(request: Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The call's parameters as python-telegram-bot sends them: form fields whose values are JSON
    encoded (strings as they are), or multipart with the files."""
    params: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    if request.method == "GET":
        return dict(request.query_params), files
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.body()
        return (json.loads(body) if body else {}), files
    form = await request.form()
    for key, value in form.multi_items():
        if hasattr(value, "read"):
            files[key] = await value.read()
            continue
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params, files


def _error(code: int, description: str, retry_after: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return JSONResponse(body, status_code=code)
