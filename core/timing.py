"""Server-Timing: how long a request took in the app, and in the parts that record themselves.

Every HTTP response carries `Server-Timing: app;dur=<ms>` (the W3C header browsers show in
their developer tools), plus one entry per part recorded with `record()`: the gateway records
its wait for Rasa, so a client can tell the gateway's own time from Rasa's, turn by turn
(bench/chat.py does).
"""

from __future__ import annotations

import time
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The request's durations by name, in seconds. A dict set per request: code running in the
# thread pool gets a copy of the context, so it must mutate this dict, not set the variable.
_durations: ContextVar[dict[str, float] | None] = ContextVar("server_timing", default=None)


def record(name: str, seconds: float) -> None:
    """Add `seconds` to the request's `name` entry; outside a request, nothing happens."""
    durations = _durations.get()
    if durations is not None:
        durations[name] = durations.get(name, 0.0) + seconds


def header_value(durations: dict[str, float]) -> str:
    return ", ".join(f"{name};dur={seconds * 1000:.2f}" for name, seconds in durations.items())


def parse_header(value: str) -> dict[str, float]:
    """`Server-Timing` back into milliseconds by name (entries without `dur` are skipped)."""
    parsed = {}
    for entry in value.split(","):
        name, *params = (part.strip() for part in entry.split(";"))
        for param in params:
            key, _, number = param.partition("=")
            if key == "dur" and name:
                parsed[name] = float(number)
    return parsed


class ServerTiming:
    """Pure ASGI (no BaseHTTPMiddleware): it adds the header as the response starts, so `app`
    is the time to the first byte, which for a JSON response is the whole handling."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        durations: dict[str, float] = {}
        token = _durations.set(durations)

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entries = {"app": time.perf_counter() - started, **durations}
                headers = list(message.get("headers") or [])
                headers.append((b"server-timing", header_value(entries).encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            _durations.reset(token)
