"""Telegram switched on against a fake Bot API server on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core import ratelimit
from core.settings import get_settings
from integrations import registry
from integrations.telegram.adapter import TelegramAdapter
from tests.fakes.telegram import FakeBotApi

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SECRET = "webhook-secret-for-tests-0123456789"


def update(name: str, **changes: Any) -> dict[str, Any]:
    """A captured update (fixtures/<name>.json), with top-level fields changed."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    data.update(changes)
    return data


@pytest.fixture
def fake_bot() -> Iterator[FakeBotApi]:
    with FakeBotApi() as fake:
        yield fake


@pytest.fixture
def telegram_on(fake_bot: FakeBotApi, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBotApi]:
    settings = get_settings()
    monkeypatch.setattr(settings, "telegram_token", fake_bot.token)
    monkeypatch.setattr(settings, "telegram_webhook_secret", SECRET)
    monkeypatch.setattr(settings, "telegram_api_url", fake_bot.url)
    registry.forget()
    ratelimit.forget()
    yield fake_bot
    registry.forget()


@pytest.fixture
def adapter(telegram_on: FakeBotApi) -> TelegramAdapter:
    built = registry.get_adapter("telegram")
    assert isinstance(built, TelegramAdapter)
    return built
