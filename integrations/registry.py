"""Which adapter speaks for which channel: a dict, built from the settings in force.

The web chat is always on. Telegram and Zalo are on when their settings are set
(core/settings.py); a channel that is off has no adapter, and its webhook answers 404.
"""

from __future__ import annotations

from collections.abc import Callable

from core.errors import NotFound
from core.settings import Settings, get_settings
from integrations.channel import Channel, ChannelAdapter


def _web(_settings: Settings) -> ChannelAdapter:
    from integrations.webchat.adapter import WebchatAdapter

    return WebchatAdapter()


def _telegram(settings: Settings) -> ChannelAdapter:
    from integrations.telegram.adapter import TelegramAdapter

    return TelegramAdapter(settings)


def _zalo(settings: Settings) -> ChannelAdapter:
    from integrations.zalo.adapter import ZaloAdapter

    return ZaloAdapter(settings)


# Each channel: whether the settings switch it on, and how to build its adapter (imported only
# when the channel is on, so an unused channel's client library costs nothing).
CHANNELS: dict[str, tuple[Callable[[Settings], bool], Callable[[Settings], ChannelAdapter]]] = {
    Channel.WEB: (lambda _s: True, _web),
    Channel.TELEGRAM: (lambda s: s.telegram_enabled, _telegram),
    Channel.ZALO: (lambda s: s.zalo_enabled, _zalo),
}

_adapters: dict[str, ChannelAdapter] = {}


def get_adapter(channel: str) -> ChannelAdapter:
    """The adapter of a channel that is on; NotFound for one that is off or unknown."""
    adapter = _adapters.get(channel)
    if adapter is not None:
        return adapter
    settings = get_settings()
    entry = CHANNELS.get(channel)
    if entry is None or not entry[0](settings):
        raise NotFound(f"The channel '{channel}' is not enabled here.")
    adapter = _adapters.setdefault(channel, entry[1](settings))
    return adapter


def enabled_channels() -> list[str]:
    settings = get_settings()
    return [name for name, (enabled, _) in CHANNELS.items() if enabled(settings)]


def forget() -> None:
    """Drop the adapters built so far (after the settings change: tests, a reload)."""
    for adapter in _adapters.values():
        close = getattr(adapter, "close", None)
        if close is not None:
            close()
    _adapters.clear()
