"""Talking to the web chat's API in tests, as the widget does."""

from __future__ import annotations

from bot.conversations import conversation_messages
from bot.models import Message, WebchatSession
from core.database import session_scope


def open_chat(client) -> str:
    response = client.post("/api/v1/webchat/sessions")
    assert response.status_code == 201, response.text
    return response.json()["session_id"]


def stored_messages(session_id: str) -> list[Message]:
    with session_scope() as session:
        conversation_id = session.get_one(WebchatSession, session_id).conversation_id
        return conversation_messages(session, conversation_id)


def upload_photo(client, session_id: str, data: bytes, media_type: str = "image/png"):
    return client.post(
        "/api/v1/webchat/photos",
        params={"session_id": session_id},
        content=data,
        headers={"Content-Type": media_type},
    )
