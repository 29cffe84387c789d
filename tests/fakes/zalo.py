"""A fake Zalo on 127.0.0.1: the OpenAPI, OAuth v4 and ZNS, answering as the real service does
(../shared/channels.md 1.6–1.10): a refusal is HTTP 200 with a negative `error`; tokens rotate
on every refresh, a refresh token works once, and an access token replaced by a refresh is
refused with -216.

    with FakeZalo() as zalo:
        settings.zalo_api_url = settings.zalo_oauth_url = settings.zalo_zns_url = zalo.url
        pair = zalo.issue_pair()                  # a valid access + refresh token
        zalo.script("send", error=-230)           # the next cs send answers -230
        zalo.script("send", status=503)           # ... HTTP 503
        zalo.script("send", hang=2.0)             # ... answers 2 s late (if still asked)
        zalo.expire_access_token()                # the current access token now gets -216
        url = zalo.serve_file("/cdn/a.jpg", data) # a file on its "CDN", for fetch
        zalo.sent                                 # the cs messages it took (JSON bodies)
        zalo.requests                             # every request, recorded
        body, headers = zalo.signed(zalo.text_event("u1", "xin chào"))  # a signed webhook
        zalo.post_event(platform_url + "/webhooks/zalo", event)        # delivered to it

Routes scripted by name: "send" (/v3.0/oa/message/cs), "upload" (/v2.0/oa/upload/image),
"upload_file" (/v2.0/oa/upload/file),
"zns" (/message/template), "token" (/v4/oa/access_token), "file" (a served file).
The signature is computed here on its own, from channels.md 1.4, not with the platform's code.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import secrets
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

MAX_TEXT = 2000
ROUTES = {
    ("POST", "/v3.0/oa/message/cs"): "send",
    ("POST", "/v2.0/oa/upload/image"): "upload",
    ("POST", "/v2.0/oa/upload/file"): "upload_file",
    ("POST", "/message/template"): "zns",
    ("POST", "/v4/oa/access_token"): "token",
}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # field: (filename, bytes)
    answer: Any = None  # what the fake answered (JSON), once it has
    accepted: bool = False  # answered with success


@dataclass
class Answer:
    """A scripted answer: wait `hang` seconds, then HTTP `status`, or Zalo's `error` (HTTP 200),
    or (only a hang) the normal answer."""

    error: int | None = None
    message: str = ""
    status: int | None = None
    hang: float = 0.0


class FakeZalo:
    def __init__(
        self,
        *,
        app_id: str = "fake-app-id",
        app_secret: str = "fake-app-secret",
        oa_secret: str = "fake-oa-secret",
        oa_id: str = "579745863508352884",
        refresh_delay: float = 0.0,
    ) -> None:
        self.app_id, self.app_secret, self.oa_secret, self.oa_id = (
            app_id,
            app_secret,
            oa_secret,
            oa_id,
        )
        # How long a token refresh takes: lets a test hold two refreshes in flight at once.
        self.refresh_delay = refresh_delay
        self.requests: list[Recorded] = []
        # Told of every cs message the fake takes, as it takes it (benchmarks time replies).
        self.on_send: Callable[[dict[str, Any]], None] | None = None
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[Answer]] = {}
        self._files: dict[str, bytes] = {}
        # Each valid refresh token, with the access token issued alongside it (which dies
        # when the refresh token is spent).
        self._refresh: dict[str, str] = {}
        self._access: set[str] = set()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.refresh_token = self.issue_pair()["refresh_token"]

    # --- Life ---------------------------------------------------------------------------------

    def start(self) -> FakeZalo:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # hanging answers end now
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeZalo:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- What the tests arrange ---------------------------------------------------------------

    def issue_pair(self) -> dict[str, Any]:
        """A new valid token pair, as OAuth would answer it."""
        access, refresh = f"at-{secrets.token_hex(8)}", f"rt-{secrets.token_hex(8)}"
        with self._lock:
            self._access.add(access)
            self._refresh[refresh] = access
        return {"access_token": access, "refresh_token": refresh, "expires_in": "90000"}

    def script(
        self,
        route: str,
        *,
        error: int | None = None,
        message: str = "",
        status: int | None = None,
        hang: float = 0.0,
        times: int = 1,
    ) -> None:
        """The next `times` requests to `route` get this answer."""
        with self._lock:
            queue = self._scripts.setdefault(route, deque())
            for _ in range(times):
                queue.append(Answer(error, message or _MESSAGES.get(error or 0, ""), status, hang))

    def expire_access_token(self) -> None:
        """Every access token issued so far is now refused with -216 (it expired)."""
        with self._lock:
            self._access.clear()

    def serve_file(self, path: str, data: bytes) -> str:
        """Serve `data` at `path`, as Zalo's CDN serves a photo; its URL."""
        with self._lock:
            self._files[path] = data
        return self.url + path

    def on(self, route: str) -> list[Recorded]:
        """The requests made to one route, in order."""
        paths = {path for (_, path), name in ROUTES.items() if name == route}
        return [r for r in self.requests if r.path in paths]

    @property
    def sent(self) -> list[dict[str, Any]]:
        """The consultation messages Zalo took (HTTP 200, error 0), in order."""
        return [r.json for r in self.on("send") if r.accepted]

    # --- Webhooks, signed the way Zalo signs them ---------------------------------------------

    def sign(self, body: bytes, timestamp: str) -> str:
        mac = hashlib.sha256(
            self.app_id.encode() + body + timestamp.encode() + self.oa_secret.encode()
        )
        return "mac=" + mac.hexdigest()

    def signed(self, event: dict[str, Any], *, now: bool = True) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a webhook request carrying `event` (its timestamp set to now
        unless `now=False`)."""
        event = {**event, "app_id": event.get("app_id", self.app_id)}
        if now or "timestamp" not in event:
            event["timestamp"] = str(int(time.time() * 1000))
        body = json.dumps(event, ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "X-ZEvent-Signature": self.sign(body, str(event["timestamp"])),
        }
        return body, headers

    def post_event(self, url: str, event: dict[str, Any]) -> httpx.Response:
        """Deliver a signed event to a running platform's webhook."""
        body, headers = self.signed(event)
        return httpx.post(url, content=body, headers=headers, timeout=10)

    def text_event(self, user_id: str, text: str, *, msg_id: str | None = None) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "user_id_by_app": f"app-{user_id}",
            "event_name": "user_send_text",
            "timestamp": str(int(time.time() * 1000)),
            "sender": {"id": user_id},
            "recipient": {"id": self.oa_id},
            "message": {"msg_id": msg_id or secrets.token_hex(16), "text": text},
        }

    def received_event(self, user_id: str, msg_id: str) -> dict[str, Any]:
        """Zalo's delivery receipt of one of our messages (the OA is the sender)."""
        return {
            "app_id": self.app_id,
            "event_name": "user_received_message",
            "timestamp": str(int(time.time() * 1000)),
            "sender": {"id": self.oa_id},
            "recipient": {"id": user_id},
            "message": {"msg_id": msg_id},
        }

    def seen_event(self, user_id: str, msg_ids: list[str]) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "event_name": "user_seen_message",
            "timestamp": str(int(time.time() * 1000)),
            "sender": {"id": self.oa_id},
            "recipient": {"id": user_id},
            "message": {"msg_ids": msg_ids},
        }

    # --- Answers -------------------------------------------------------------------------------

    def _answer(
        self, request: Recorded, gone: Callable[[], bool] = lambda: False
    ) -> tuple[int, Any]:
        route = ROUTES.get((request.method, request.path))
        if route is None and request.method == "GET" and request.path in self._files:
            route = "file"
        with self._lock:
            queue = self._scripts.get(route or "")
            scripted = queue.popleft() if queue else None
        if scripted is not None:
            if scripted.hang:
                self._stopping.wait(scripted.hang)
                if gone():  # the client timed out: the request never got through
                    return 499, {"error": -1, "message": "Client closed the request"}
            if scripted.status is not None:
                return scripted.status, {"error": -1, "message": "Internal Server Error"}
            if scripted.error is not None:
                return 200, {"error": scripted.error, "message": scripted.message}
        if route == "file":
            return 200, self._files[request.path]
        if route == "token":
            return 200, self._token(request)
        if route is None:
            return 404, {"error": 404, "message": "Not found"}
        with self._lock:
            valid = request.headers.get("access_token") in self._access
        if not valid:
            return 200, {"error": -216, "message": _MESSAGES[-216]}
        handlers = {
            "send": self._send,
            "upload": self._upload,
            "upload_file": self._upload_file,
            "zns": self._zns,
        }
        result = handlers[route](request)
        request.accepted = result["error"] == 0
        return 200, result

    def _token(self, request: Recorded) -> dict[str, Any]:
        form = request.form
        if (
            request.headers.get("secret_key") != self.app_secret
            or form.get("app_id") != self.app_id
        ):
            return {"error": -14002, "error_name": "Invalid app", "error_description": "bad app"}
        if form.get("grant_type") != "refresh_token":
            return {"error": -14003, "error_description": "grant_type is not supported here"}
        if self.refresh_delay:
            self._stopping.wait(self.refresh_delay)
        with self._lock:
            spent_access = self._refresh.pop(form.get("refresh_token", ""), None)
            if spent_access is None:
                return {
                    "error": -14014,
                    "error_name": "Invalid refresh token",
                    "error_description": "Refresh token is invalid or was already used",
                }
            self._access.discard(spent_access)  # the old access token dies with its pair
        return self.issue_pair()

    def _send(self, request: Recorded) -> dict[str, Any]:
        body = request.json if isinstance(request.json, dict) else {}
        recipient, message = body.get("recipient") or {}, body.get("message") or {}
        if not (recipient.get("user_id") or recipient.get("message_id")):
            return {"error": -201, "message": "recipient is invalid"}
        if not (message.get("text") or message.get("attachment")):
            return {"error": -201, "message": "message is invalid"}
        if len(message.get("text") or "") > MAX_TEXT:
            return {"error": -210, "message": "text exceeds 2000 characters"}
        if self.on_send is not None:
            self.on_send(body)
        return {
            "error": 0,
            "message": "Success",
            "data": {
                "message_id": secrets.token_hex(16),
                "user_id": recipient.get("user_id", ""),
                "sent_time": str(int(time.time() * 1000)),
                "quota": {"quota_type": "reply", "remain": "8", "total": "8"},
            },
        }

    def _upload(self, request: Recorded) -> dict[str, Any]:
        if "file" not in request.files or not request.files["file"][1]:
            return {"error": -201, "message": "file is invalid"}
        return {"error": 0, "message": "Success", "data": {"attachment_id": secrets.token_hex(12)}}

    def _upload_file(self, request: Recorded) -> dict[str, Any]:
        if "file" not in request.files or not request.files["file"][1]:
            return {"error": -201, "message": "file is invalid"}
        return {"error": 0, "message": "Success", "data": {"token": secrets.token_hex(16)}}

    def _zns(self, request: Recorded) -> dict[str, Any]:
        body = request.json if isinstance(request.json, dict) else {}
        phone = str(body.get("phone") or "")
        if not (phone.startswith("84") and phone.isdigit()):
            return {"error": -108, "message": "Phone number is invalid"}
        if not body.get("template_id"):
            return {"error": -109, "message": "Template id is invalid"}
        return {
            "error": 0,
            "message": "Success",
            "data": {
                "msg_id": secrets.token_hex(16),
                "sent_time": str(int(time.time() * 1000)),
                "quota": {"dailyQuota": "500", "remainingQuota": "499"},
            },
        }


_MESSAGES = {
    -32: "The application has exceeded the rate limit",
    -216: "Access token is invalid",
    -220: "Access token has expired or has been removed",
    -230: "User has not interacted with the OA in the last 7 days",
    -232: "User has not interacted with the OA or the interaction has expired",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up on a scripted hang, or closed a kept-alive connection


class _Handler(BaseHTTPRequestHandler):
    fake: FakeZalo
    protocol_version = "HTTP/1.1"  # keep-alive, as the real service
    # Headers and body go out in two writes: without this, Nagle's algorithm and the client's
    # delayed ACK hold every answer back ~40 ms.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        request = Recorded(
            method=self.command,
            path=parts.path,
            query={k: v[0] for k, v in parse_qs(parts.query).items()},
            headers={k.lower(): v for k, v in self.headers.items()},
        )
        _read_body(request, self.headers.get("Content-Type") or "", raw)
        with self.fake._lock:
            self.fake.requests.append(request)
        status, answer = self.fake._answer(request, self._client_gone)
        request.answer = answer if not isinstance(answer, bytes) else None
        if isinstance(answer, bytes):
            payload, kind = answer, "image/jpeg"
        else:
            payload, kind = json.dumps(answer).encode(), "application/json"
        try:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a scripted hang)

    def _client_gone(self) -> bool:
        """Whether the client has hung up (its end of the socket reads as closed)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _read_body(request: Recorded, content_type: str, raw: bytes) -> None:
    if content_type.startswith("application/json"):
        request.json = json.loads(raw or b"null")
    elif content_type.startswith("application/x-www-form-urlencoded"):
        request.form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
    elif content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
        for part in parsed.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(data, bytes):
                request.files[name] = (part.get_filename() or "", data)
