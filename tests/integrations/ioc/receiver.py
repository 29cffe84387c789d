"""A local IOC that receives the push: it checks each signature, can answer 503, refuse one
snapshot, or be switched off (connection refused), and records what it accepted."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    key: str
    timestamp: str
    body: dict[str, Any]


@dataclass
class Receiver:
    secret: str
    port: int = 0
    mode: str = "up"  # up | error
    refuse: set[str] = field(default_factory=set)  # snapshot ids answered 400
    accepted: list[Received] = field(default_factory=list)
    bad_signatures: int = 0
    requests: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ioc/snapshots"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.requests += 1
                body = self.rfile.read(int(self.headers["Content-Length"]))
                timestamp = self.headers["X-TiepDan-Timestamp"]
                expected = hmac.new(
                    receiver.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
                ).hexdigest()
                if not hmac.compare_digest(
                    self.headers["X-TiepDan-Signature"], f"sha256={expected}"
                ):
                    receiver.bad_signatures += 1
                    self._answer(401)
                    return
                key = self.headers["Idempotency-Key"]
                if receiver.mode == "error":
                    self._answer(503)
                elif key in receiver.refuse:
                    self._answer(400)
                else:
                    receiver.accepted.append(Received(key, timestamp, json.loads(body)))
                    self._answer(202)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
