"""Rasa's REST channel, as the gateway talks to it: one message in, the replies out; and the one
call of Rasa's HTTP API the platform makes, erasing a conversation (bot/privacy.py).

Also the one rule for button payloads: a payload names an intent of the assistant's domain
(`/intent` or `/intent{"entity": value}`), so a forged button cannot reach Rasa.
"""

from __future__ import annotations

import json
import re
import time
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import httpx
import yaml

from core import metrics, timing
from integrations.channel import Inbound, Reply

RASA_TIMEOUT = httpx.Timeout(10.0, connect=2.0)
# An idle connection is dropped after this long, well before the server closes it: Rasa's
# server (Sanic) and uvicorn close an idle keep-alive connection after 5 s, httpx's default
# expiry, so a turn after 5 s of quiet could go out on a connection closing at that moment and
# fail ("Server disconnected without sending a response"), a fallback answer instead of Rasa's
# (seen once in 1,500 turns of bench/channels.py on a busy machine).
RASA_KEEPALIVE_SECONDS = 2.0


class RasaUnavailable(Exception):
    pass


@lru_cache
def _rasa_http() -> httpx.Client:
    """One client per process: a new one per turn cost ~25 ms (its TLS context and a new
    connection), measured in bench/chat.py. httpx clients are safe to share between threads."""
    limits = httpx.Limits(  # httpx's defaults, but the expiry
        max_connections=100, max_keepalive_connections=20, keepalive_expiry=RASA_KEEPALIVE_SECONDS
    )
    return httpx.Client(timeout=RASA_TIMEOUT, limits=limits)


def ask(base_url: str, message: str, inbound: Inbound) -> list[Reply]:
    """Rasa's replies to one message of this sender, through its REST channel."""
    body = {
        "sender": inbound.sender_id,
        "message": message,
        "metadata": {"channel": inbound.channel, **inbound.metadata},
    }
    started = time.perf_counter()
    try:
        response = _rasa_http().post(f"{base_url.rstrip('/')}/webhooks/rest/webhook", json=body)
    except httpx.HTTPError as exc:
        raise RasaUnavailable(f"{exc.__class__.__name__}: {exc}") from exc
    finally:
        elapsed = time.perf_counter() - started
        timing.record("rasa", elapsed)
        metrics.observe("rasa_request_seconds", elapsed)
    if response.status_code >= 500:
        raise RasaUnavailable(f"HTTP {response.status_code}")
    if response.status_code != 200:
        raise RasaUnavailable(f"HTTP {response.status_code}: {response.text[:200]}")
    try:
        items = response.json()
    except ValueError as exc:
        raise RasaUnavailable("not JSON") from exc
    replies = []
    for item in items if isinstance(items, list) else []:
        buttons = [
            {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
            for b in item.get("buttons") or []
            if isinstance(b, dict)
        ]
        if item.get("text") or buttons or item.get("image"):
            replies.append(Reply(text=item.get("text"), buttons=buttons, image=item.get("image")))
    return replies


def erase_tracker(base_url: str, token: str, sender: str) -> None:
    """Replace the events of this sender's conversation with none: Rasa forgets what was said.

    `PUT /conversations/{id}/tracker/events` (Rasa 3.6's HTTP API, `--enable-api`), under
    Rasa's per-conversation lock, with the `--auth-token` as the `token` query parameter. An
    in-memory tracker store then holds an empty conversation. An SQL tracker store only ever
    appends, so its rows are deleted apart (bot/privacy.py). RasaUnavailable when it failed.
    """
    url = f"{base_url.rstrip('/')}/conversations/{quote(sender, safe=':')}/tracker/events"
    try:
        response = _rasa_http().put(url, json=[], params={"token": token} if token else None)
    except httpx.HTTPError as exc:
        raise RasaUnavailable(f"{exc.__class__.__name__}: {exc}") from exc
    if response.status_code != 200:
        raise RasaUnavailable(f"HTTP {response.status_code}")


# A button's payload: "/intent" or '/intent{"entity": value, ...}'.
_PAYLOAD = re.compile(r"^/(?P<intent>[a-z_]+)(?P<entities>\{.*\})?$")
DOMAIN_FILE = Path(__file__).resolve().parent / "rasa" / "domain.yml"


@lru_cache
def assistant_intents() -> frozenset[str]:
    """The intents of the Rasa assistant's domain: the only ones a payload may name."""
    domain = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))
    return frozenset(domain["intents"])


def is_valid_payload(payload: str) -> bool:
    """A payload names one of the assistant's intents, with a JSON object of entities or none."""
    match = _PAYLOAD.match(payload) if len(payload) <= 500 else None
    if match is None or match["intent"] not in assistant_intents():
        return False
    if match["entities"] is None:
        return True
    try:
        return isinstance(json.loads(match["entities"]), dict)
    except ValueError:
        return False
