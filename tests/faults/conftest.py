"""The fault suite's fixtures: the channels' fakes switched on, shared with tests/integrations/."""

from __future__ import annotations

from tests.integrations.telegram.conftest import fake_bot, telegram_on
from tests.integrations.zalo.conftest import connected, fake_zalo, zalo_on

__all__ = ["connected", "fake_bot", "fake_zalo", "telegram_on", "zalo_on"]
