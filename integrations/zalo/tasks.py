"""Zalo's periodic job: renew the OA's tokens before the access token expires.

The renewal runs whether or not anybody writes: a refresh token not used for three months dies,
and with it the OA's connection (channels.md 1.9).
"""

from __future__ import annotations

import logging

from core.celery_app import celery_app
from core.settings import get_settings
from integrations import registry
from integrations.channel import Channel
from integrations.zalo import tokens
from integrations.zalo.adapter import ZaloAdapter
from integrations.zalo.client import ZaloError, ZaloUnavailable

logger = logging.getLogger(__name__)


@celery_app.task(name="integrations.zalo.refresh_token")
def refresh_token() -> str:
    """Renew the tokens when they expire soon; what happened, in a word."""
    if not get_settings().zalo_enabled:
        return "off"
    adapter = registry.get_adapter(Channel.ZALO)
    assert isinstance(adapter, ZaloAdapter)
    try:
        renewed = adapter.renew_tokens_if_expiring()
    except tokens.NotConnected:
        logger.warning("zalo: the OA is not connected; run `tiepdan zalo connect`")
        return "not connected"
    except ZaloUnavailable as exc:  # the next run tries again, well before the expiry
        logger.warning("zalo: token renewal postponed: %s", exc)
        return "postponed"
    except ZaloError as exc:
        logger.error("zalo: Zalo refused to renew the tokens (%s): reconnect the OA", exc)
        return "refused"
    return "renewed" if renewed else "fresh"
