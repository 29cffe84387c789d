"""`tiepdan telegram ...`: connect the bot to its webhook."""

from __future__ import annotations

import click

from core.settings import get_settings


@click.group()
def telegram() -> None:
    """The Telegram bot (TIEPDAN_TELEGRAM_TOKEN, TIEPDAN_TELEGRAM_WEBHOOK_SECRET)."""


@telegram.command("set-webhook")
@click.option("--url", required=True, help="The public HTTPS address of /webhooks/telegram.")
def set_webhook(url: str) -> None:
    """Tell Telegram where to deliver updates, with the secret it must echo back."""
    from telegram.error import TelegramError

    from integrations.telegram.adapter import ALLOWED_UPDATES, TelegramAdapter

    settings = get_settings()
    if not settings.telegram_enabled:
        raise click.ClickException(
            "Telegram is off: set TIEPDAN_TELEGRAM_TOKEN and TIEPDAN_TELEGRAM_WEBHOOK_SECRET."
        )
    adapter = TelegramAdapter(settings)
    try:
        adapter.set_webhook(url, allowed_updates=ALLOWED_UPDATES)
    except TelegramError as exc:
        raise click.ClickException(f"Telegram refused the webhook: {exc}") from exc
    finally:
        adapter.close()
    click.echo(f"Telegram delivers {', '.join(ALLOWED_UPDATES)} updates to {url}.")
