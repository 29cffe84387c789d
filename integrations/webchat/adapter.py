"""The web chat as a channel. Its page sends messages through its own JSON routes
(bot/webchat_api.py), where the session id this server issued is the proof of who writes, and
reads its replies from what is stored (the history and the WebSocket): storing a reply is
delivering it. So of the channel protocol only the capabilities are its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from integrations.channel import (
    Attachment,
    Capabilities,
    Channel,
    Inbound,
    Outgoing,
    Pacing,
    Receipt,
    Sent,
)


class WebchatAdapter:
    name = Channel.WEB.value
    capabilities = Capabilities(buttons=True, images=True, locations=True, max_text=5000)
    pacing = Pacing()
    delivered_by_storing = True

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        raise NotImplementedError("The web chat posts to /api/v1/webchat, not to a webhook.")

    def parse(self, body: bytes) -> list[Inbound | Receipt]:
        raise NotImplementedError("The web chat posts to /api/v1/webchat, not to a webhook.")

    def prepare(self, inbound: Inbound, *, conversation_id: int) -> Inbound:
        return inbound

    def fetch(self, attachment: Attachment) -> bytes:
        raise NotImplementedError("The widget uploads photos itself (/api/v1/webchat/photos).")

    def send(self, outgoing: Outgoing) -> Sent:
        return Sent()  # stored is sent: the page's WebSocket pushes it
