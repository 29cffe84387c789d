"""Where Telegram and Zalo deliver what people send: one route per channel, one path for all.

route → the channel's adapter checks the request and reads it → the gateway stores each
message and queues its answer → 200 at once (Zalo gives two seconds; Telegram resends on
anything but 2xx). A channel that is switched off answers 404, a forged request 401 or 403, and
nothing of either is stored.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from bot import delivery, gateway
from core.errors import Invalid
from integrations import registry
from integrations.channel import Channel, Inbound

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.post("/telegram")
async def telegram(request: Request) -> dict[str, bool]:
    """Telegram's updates (setWebhook with a secret_token: `tiepdan telegram set-webhook`)."""
    return await _receive(Channel.TELEGRAM, request)


@router.post("/zalo")
async def zalo(request: Request) -> dict[str, bool]:
    """Zalo Official Account events, signed in X-ZEvent-Signature."""
    return await _receive(Channel.ZALO, request)


async def _receive(channel: str, request: Request) -> dict[str, bool]:
    adapter = registry.get_adapter(channel)  # 404 when the channel is off
    body = await request.body()
    adapter.verify(request.headers, body)
    try:
        items = adapter.parse(body)
    except ValueError as exc:
        raise Invalid(f"Not a {channel} update: {exc}") from exc
    for item in items:
        if isinstance(item, Inbound):
            await run_in_threadpool(gateway.receive, item)
        else:
            await run_in_threadpool(delivery.record_receipt, channel, item)
    return {"ok": True}
