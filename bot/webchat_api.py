"""The web chat's HTTP contract (DESIGN.md): sessions, messages, photos, and the messages since.

Thin routes over bot/webchat.py; the widget itself is served by integrations/webchat/pages.py.
"""

from __future__ import annotations

import asyncio
from asyncio import FIRST_COMPLETED
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, model_validator
from starlette.concurrency import run_in_threadpool

from bot import message_push, webchat
from bot.message_push import SAFETY_POLL_SECONDS
from core.errors import AppError, Invalid, NotFound
from core.http import MAX_ID, AfterId, client_ip
from core.settings import get_settings
from feedback import attachments as photos

router = APIRouter(prefix="/api/v1/webchat", tags=["webchat"])
# How often the WebSocket looks for new messages when nothing wakes it (SQLite, or
# TIEPDAN_WEBCHAT_PUSH=poll, or the LISTEN connection down). Messages are written by other
# processes (the worker delivering a staff reply), so the database is where they meet.
POLL_SECONDS = 1.0


class SessionOut(BaseModel):
    session_id: str


class ButtonOut(BaseModel):
    title: str
    payload: str


class ReplyOut(BaseModel):
    text: str | None = None
    buttons: list[ButtonOut] = []
    image: str | None = None
    documents: list[str] = Field(default=[], description="Documents (PDF) sent with the reply")


class MessageIn(BaseModel):
    session_id: str = Field(max_length=64)
    text: str | None = Field(default=None, max_length=20_000)
    payload: str | None = Field(default=None, max_length=500)
    client_message_id: str | None = Field(
        default=None,
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The widget's own id for this message (a UUID), sent again when it retries:"
        " the message is stored once, and a retry gets the first try's replies",
    )

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
    pushed: bool = False  # sent later (a staff reply, a status change), not as an answer


class HistoryOut(BaseModel):
    messages: list[HistoryItem]


@router.post("/sessions", response_model=SessionOut, status_code=201)
async def open_session(request: Request) -> SessionOut:
    """Start a chat. The id is random and only this server's ids are accepted afterwards.

    Too many from one address: 429 with Retry-After (TIEPDAN_LIMIT_SESSIONS_PER_IP).
    """
    session_id = await run_in_threadpool(webchat.open_session, ip=client_ip(request))
    return SessionOut(session_id=session_id)


@router.post("/messages", response_model=RepliesOut)
async def send_message(request: Request, body: MessageIn) -> RepliesOut:
    """Send a message (or a button's payload) and get the bot's replies.

    Faster than TIEPDAN_LIMIT_MESSAGES_PER_SESSION or _PER_IP: 429 with Retry-After and, as
    `detail`, the sentence the chat shows.
    """
    replies = await run_in_threadpool(
        webchat.send,
        body.session_id,
        ip=client_ip(request),
        text=body.text,
        payload=body.payload,
        client_message_id=body.client_message_id,
    )
    return RepliesOut(messages=[ReplyOut.model_validate(r) for r in replies])


class PhotoOut(BaseModel):
    url: str = Field(description='Send it on as the payload /share_photo{"photo_url": url}')


@router.post("/photos", response_model=PhotoOut, status_code=201)
async def upload_photo(
    request: Request, session_id: Annotated[str, Query(max_length=64)]
) -> PhotoOut:
    """Attach a photo to a chat: the request body is the image itself (JPEG, PNG or WebP).

    A file that is not an image (415), too large (413), over the day's photo quota (429,
    TIEPDAN_LIMIT_PHOTO_BYTES_*) or with no room left on the disk (507) is refused with a
    reason, and the refusal is kept in the conversation.
    """
    await run_in_threadpool(webchat.check_session, session_id)
    limit = get_settings().max_photo_bytes
    data = bytearray()
    async for chunk in request.stream():
        data.extend(chunk)
        if len(data) > limit:
            break
    try:
        cleaned, kind = await run_in_threadpool(photos.clean_photo, bytes(data), limit=limit)
        await run_in_threadpool(
            webchat.count_photo, session_id, ip=client_ip(request), size=len(cleaned)
        )
        url = await run_in_threadpool(photos.save, cleaned, kind)
    except AppError as refusal:
        await run_in_threadpool(
            webchat.reject_upload, session_id, reason=refusal.message, size=len(data)
        )
        raise
    return PhotoOut(url=url)


@router.get("/photos/{name}")
def photo(name: str) -> FileResponse:
    """A photo attached in a chat, by the name its upload returned."""
    path = photos.path_of(name)
    if path is None:
        raise NotFound("No such photo.")
    # nosniff: a browser must never read a stored photo as anything but the image it is.
    return FileResponse(
        path,
        media_type=photos.MEDIA_TYPES[path.suffix.lstrip(".")],
        headers={"X-Content-Type-Options": "nosniff"},
    )


@router.get("/sessions/{session_id}/messages", response_model=HistoryOut)
async def history(session_id: str, after: AfterId = 0) -> HistoryOut:
    """This session's messages after `after` (an id): replies pushed later, after a reload."""
    if len(session_id) > 64:
        raise Invalid("Unknown web-chat session.")
    items = await run_in_threadpool(webchat.history, session_id, after=after)
    return HistoryOut(messages=[HistoryItem.model_validate(i) for i in items])


@router.websocket("/ws/{session_id}")
async def push(websocket: WebSocket, session_id: str, after: int | None = None) -> None:
    """Messages written later (staff replies, status changes), as `{"messages": [...]}`.

    A session id this server did not issue is refused (close code 1008). `after` is the
    last message id the page has; by default only messages from now on are pushed.
    """
    if after is not None and not 0 <= after <= MAX_ID:
        await websocket.close(code=1008, reason="'after' is out of range.")
        return
    try:
        conversation_id = await run_in_threadpool(webchat.conversation_id, session_id)
    except AppError:
        await websocket.close(code=1008, reason="Unknown web-chat session.")
        return
    # Subscribed before the first read: a message committed after that read wakes the loop.
    with message_push.subscription(conversation_id) as woken:
        known = await run_in_threadpool(
            webchat.conversation_history, conversation_id, after=after or 0
        )
        await websocket.accept()
        last = after if after is not None else max((m["id"] for m in known), default=0)
        if after is not None and known:
            await websocket.send_json({"messages": _outbound(known)})
            last = known[-1]["id"]
        # The page may send pings; a reader task drains them and notices when the page leaves.
        reader = asyncio.create_task(_drain(websocket))
        sent: set[int] = set()  # pushed above `last`, which lags (webchat.conversation_since)
        try:
            while await _woken_or_timeout(woken, reader):
                woken.clear()  # before the read: a commit after it sets the event again
                fresh, floor = await run_in_threadpool(
                    webchat.conversation_since, conversation_id, after=last
                )
                outbound = [m for m in _outbound(fresh) if m["id"] not in sent]
                if outbound:
                    await websocket.send_json({"messages": outbound})
                    sent.update(m["id"] for m in outbound)
                last = floor
                sent = {i for i in sent if i > last}
        except WebSocketDisconnect:
            pass
        finally:
            reader.cancel()


async def _woken_or_timeout(woken: asyncio.Event, reader: asyncio.Task[None]) -> bool:
    """Wait until a message may have come (or it is time to read anyway); False once the page
    has left. Woken by LISTEN/NOTIFY (bot/message_push.py), a chat reads only when there is
    something to read, and reads every SAFETY_POLL_SECONDS anyway; otherwise it polls."""
    timeout = SAFETY_POLL_SECONDS if message_push.listening() else POLL_SECONDS
    waiting = asyncio.create_task(woken.wait())
    try:
        await asyncio.wait({waiting, reader}, timeout=timeout, return_when=FIRST_COMPLETED)
    finally:
        waiting.cancel()
    return not reader.done()


async def _drain(websocket: WebSocket) -> None:
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        return


def _outbound(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages the socket is for: those sent later (staff replies, notices). The bot's
    answers reach the page in the response to its message; pushed too, they could arrive first
    and be shown twice, now that a push is as quick as the answer (bot/message_push.py)."""
    return [
        HistoryItem.model_validate(i).model_dump()
        for i in items
        if i["direction"] == "out" and i["pushed"]
    ]
