"""The fault suite's fixtures: the channels' fakes switched on (shared with tests/integrations/),
and a fake Rasa the gateway talks to, which a test can slow down, break or kill."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.settings import get_settings
from tests.fakes.rasa import InstantRasa
from tests.integrations.telegram.conftest import fake_bot, telegram_on
from tests.integrations.zalo.conftest import connected, fake_zalo, zalo_on

__all__ = ["connected", "fake_bot", "fake_zalo", "telegram_on", "zalo_on"]


@pytest.fixture
def rasa(monkeypatch: pytest.MonkeyPatch) -> Iterator[InstantRasa]:
    """The gateway's Rasa, in this process: answers at once until the test says otherwise."""
    with InstantRasa() as fake:
        monkeypatch.setattr(get_settings(), "rasa_url", fake.url)
        yield fake
