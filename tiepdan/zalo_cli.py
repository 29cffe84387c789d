"""`tiepdan zalo ...`: connect the Official Account (its first token pair) and see its state."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from core.settings import get_settings
from integrations.zalo import tokens
from integrations.zalo.client import TokenPair, ZaloClient, ZaloError, ZaloUnavailable


@click.group()
def zalo() -> None:
    """The Zalo Official Account."""


@zalo.command("connect")
@click.option(
    "--refresh-token",
    required=True,
    help="An OA refresh token (Zalo's API Explorer, or the OAuth flow). It is spent here.",
)
def connect(refresh_token: str) -> None:
    """Exchange a refresh token for the OA's first token pair, and keep it."""
    settings = get_settings()
    if not settings.zalo_enabled:
        raise click.ClickException(
            "Zalo is off: set TIEPDAN_ZALO_APP_ID, TIEPDAN_ZALO_APP_SECRET and "
            "TIEPDAN_ZALO_OA_SECRET first."
        )
    try:
        pair = asyncio.run(_exchange(refresh_token))
    except ZaloError as exc:
        raise click.ClickException(
            f"Zalo refused the refresh token ({exc.code}: {exc.message}). A refresh token works "
            "once: get a new one."
        ) from exc
    except ZaloUnavailable as exc:
        raise click.ClickException(
            f"Zalo did not answer ({exc}). Try again; if Zalo did take the token, get a new one."
        ) from exc
    expiry = tokens.store(pair)
    click.echo(
        f"Zalo OA connected. Its access token expires at {_local(expiry)}; "
        "the worker's beat renews it before then."
    )


@zalo.command("status")
def status() -> None:
    """Whether the OA is connected, and until when its access token lasts."""
    expiry = tokens.expires_at()
    if expiry is None:
        raise click.ClickException("The Zalo OA is not connected: run `tiepdan zalo connect`.")
    click.echo(f"Zalo OA connected; the access token expires at {_local(expiry)}.")


async def _exchange(refresh_token: str) -> TokenPair:
    settings = get_settings()
    client = ZaloClient(
        app_id=settings.zalo_app_id,
        app_secret=settings.zalo_app_secret,
        api_url=settings.zalo_api_url,
        oauth_url=settings.zalo_oauth_url,
        zns_url=settings.zalo_zns_url,
    )
    try:
        return await client.refresh_token(refresh_token)
    finally:
        await client.aclose()


def _local(moment: datetime) -> str:
    zone = get_settings().timezone
    return moment.astimezone(ZoneInfo(zone)).strftime(f"%Y-%m-%d %H:%M ({zone})")
