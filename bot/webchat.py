"""The web chat's backend: the gateway behind integrations/webchat's routes."""

from __future__ import annotations

from typing import Any

from bot import gateway
from bot.gateway import Inbound
from core.database import session_scope


class WebchatBackend:
    def open_session(self) -> str:
        with session_scope() as session:
            return gateway.open_webchat_session(session)

    def send(
        self, session_id: str, *, text: str | None, payload: str | None
    ) -> list[dict[str, Any]]:
        gateway.refuse_malformed_session_id(session_id)
        # A web chat's conversation is keyed by its session id (open_webchat_session).
        outcome = gateway.handle_inbound(
            Inbound(
                channel="web",
                channel_user_id=session_id,
                text=text,
                payload=payload,
                opens_conversation=False,
            )
        )
        return [reply.as_dict() for reply in outcome.replies]

    def history(self, session_id: str, *, after: int) -> list[dict[str, Any]]:
        with session_scope() as session:
            conversation = gateway.webchat_conversation(session, session_id)
            return [
                {
                    "id": m.id,
                    "direction": m.direction.value,
                    "pushed": m.direction.value == "out" and m.channel_message_id is not None,
                    **(
                        gateway.reply_of(m).as_dict()
                        if m.direction.value == "out"
                        else {"text": m.text or m.payload, "buttons": [], "image": None}
                    ),
                }
                for m in gateway.conversation_messages(session, conversation.id, after_id=after)
            ]

    def check_session(self, session_id: str) -> None:
        with session_scope() as session:
            gateway.webchat_conversation(session, session_id)

    def reject_upload(self, session_id: str, *, reason: str, size: int) -> None:
        with session_scope() as session:
            conversation = gateway.webchat_conversation(session, session_id)
            gateway.record_rejected_upload(session, conversation, reason=reason, size=size)
