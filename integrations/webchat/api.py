"""The web chat's HTTP contract (DESIGN.md): sessions, messages, and the messages since.

The routes know nothing of Rasa: they call the chat backend the app was built with
(`app.state.webchat_backend`, set by tiepdan/app.py to the bot's gateway), because
`integrations` may not import `bot`.
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, model_validator
from starlette.concurrency import run_in_threadpool

from core.errors import Invalid

router = APIRouter(prefix="/api/v1/webchat", tags=["webchat"])


class ChatBackend(Protocol):
    def open_session(self) -> str: ...

    def send(
        self, session_id: str, *, text: str | None, payload: str | None
    ) -> list[dict[str, Any]]:
        """Store the message, answer it, and return the replies."""
        ...

    def history(self, session_id: str, *, after: int) -> list[dict[str, Any]]: ...


def get_backend(request: Request) -> ChatBackend:
    return request.app.state.webchat_backend  # type: ignore[no-any-return]


Backend = Annotated[ChatBackend, Depends(get_backend)]


class SessionOut(BaseModel):
    session_id: str


class ButtonOut(BaseModel):
    title: str
    payload: str


class ReplyOut(BaseModel):
    text: str | None = None
    buttons: list[ButtonOut] = []
    image: str | None = None


class MessageIn(BaseModel):
    session_id: str = Field(max_length=64)
    text: str | None = Field(default=None, max_length=20_000)
    payload: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _text_or_payload(self) -> MessageIn:
        if self.text is None and self.payload is None:
            raise ValueError("send 'text' or 'payload'")
        return self

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"session_id": "…", "text": "Đèn đường trước nhà số 12 Yersin hỏng cả tuần"},
                {"session_id": "…", "payload": "/affirm"},
            ]
        }
    }


class RepliesOut(BaseModel):
    messages: list[ReplyOut]


class HistoryItem(ReplyOut):
    id: int
    direction: str  # "in" (from the person) or "out" (bot or staff)


class HistoryOut(BaseModel):
    messages: list[HistoryItem]


@router.post("/sessions", response_model=SessionOut, status_code=201)
async def open_session(backend: Backend) -> SessionOut:
    """Start a chat. The id is random and only this server's ids are accepted afterwards."""
    return SessionOut(session_id=await run_in_threadpool(backend.open_session))


@router.post("/messages", response_model=RepliesOut)
async def send_message(backend: Backend, body: MessageIn) -> RepliesOut:
    """Send a message (or a button's payload) and get the bot's replies."""
    replies = await run_in_threadpool(
        backend.send, body.session_id, text=body.text, payload=body.payload
    )
    return RepliesOut(messages=[ReplyOut.model_validate(r) for r in replies])


@router.get("/sessions/{session_id}/messages", response_model=HistoryOut)
async def history(
    backend: Backend, session_id: str, after: Annotated[int, Query(ge=0)] = 0
) -> HistoryOut:
    """This session's messages after `after` (an id): replies pushed later, after a reload."""
    if len(session_id) > 64:
        raise Invalid("Unknown web-chat session.")
    items = await run_in_threadpool(backend.history, session_id, after=after)
    return HistoryOut(messages=[HistoryItem.model_validate(i) for i in items])
