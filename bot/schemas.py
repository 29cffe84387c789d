"""Bodies and answers of the bot's HTTP API (bot/api.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from feedback.schemas import TicketSummaryOut
from nlu.language import Language

Sender = Annotated[
    str,
    Field(min_length=3, max_length=130, description="Rasa's sender id: <channel>:<user id>"),
]


class AnalyseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=5000)


class WardOut(BaseModel):
    code: str
    name: str


class AnalyseOut(BaseModel):
    category: str | None
    category_confidence: float
    ward: WardOut | None = Field(description="The ward, when the text names exactly one")
    ward_candidates: list[WardOut] = Field(
        description="When an old ward was split: the new wards it may mean"
    )


class FaqOut(BaseModel):
    id: str | None
    question: str | None
    answer: str | None  # in `language`
    score: float | None
    language: Language = "vi"


class OwnTickets(BaseModel):
    """A chat's own tickets, as anyone holding their codes may see them."""

    items: list[TicketSummaryOut]


class RatingIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"sender": "web:abc123", "score": 5}]},
    )
    sender: Sender
    score: int | None = Field(default=None, ge=1, le=5)
    fixed: bool | None = Field(default=None, description="false: not fixed, reopens the ticket")
    comment: str | None = Field(default=None, max_length=2000)


class RatingOut(BaseModel):
    code: str
    score: int
    fixed: bool | None
    comment: str | None
    status: str
    reopened: bool


class SenderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sender: Sender


class ConversationOut(BaseModel):
    id: int
    channel: str
    handed_off: bool
    last_message_at: datetime


class ChatMessageOut(BaseModel):
    id: int
    direction: str
    text: str | None
    payload: str | None
    state: str = Field(
        description="in: received, answered ...; out: queued, sent, delivered, seen, failed"
    )
    failure_reason: str | None = Field(
        default=None, description="Why the channel did not take an outbound message (state failed)"
    )
    created_at: datetime


class StaffMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=2000)
