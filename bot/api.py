"""HTTP routes of the conversation: the action server's API and the staff hand-off desk.

`/api/v1/bot/...` answers the Rasa action server only (the service token). It speaks for the
conversation's sender: a chat reads and rates its own tickets, nobody else's.
`/api/v1/conversations/...` is for dispatchers and admins, who take over handed-off chats.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from bot import handoff
from bot.conversations import conversation_messages
from bot.models import Conversation
from bot.schemas import (
    AnalyseIn,
    AnalyseOut,
    ChatMessageOut,
    ConversationOut,
    FaqOut,
    OwnTickets,
    RatingIn,
    RatingOut,
    SenderIn,
    StaffMessageIn,
    WardOut,
)
from core.errors import Forbidden
from core.http import RowId, SessionDep
from feedback import citizen
from feedback.auth import CurrentPrincipal, Principal
from feedback.citizen import Identity
from feedback.configuration import faq_for_bot
from feedback.models import TicketStatus
from feedback.policy import require_dispatcher
from feedback.schemas import ticket_summary
from nlu.language import Language, detect_language

if TYPE_CHECKING:
    from nlu.faq import FaqAnswer

router = APIRouter(prefix="/api/v1/bot", tags=["bot"])
desk = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])


def _service_only(principal: CurrentPrincipal) -> Principal:
    if principal.kind != "service":
        raise Forbidden("This endpoint is for the bot's action server (the service token).")
    return principal


def _desk_staff(principal: CurrentPrincipal) -> Principal:
    require_dispatcher(principal)  # the rule the panel's desk follows too
    return principal


ServiceCaller = Annotated[Principal, Depends(_service_only)]
DeskCaller = Annotated[Principal, Depends(_desk_staff)]


@router.post("/analyse", response_model=AnalyseOut)
async def analyse(_caller: ServiceCaller, body: AnalyseIn) -> AnalyseOut:
    """The NLU's reading of a message: its category and the ward it names (or candidates)."""
    from nlu.pipeline import ModelNotTrained, get_nlu
    from nlu.wards import extract_ward

    category, confidence = None, 0.0
    try:
        result = await run_in_threadpool(get_nlu().analyse, body.text)
        category, confidence, ward = result.category, result.category_confidence, result.ward
    except ModelNotTrained:  # the ward needs no trained model: a gazetteer lookup
        ward = extract_ward(body.text)
    return AnalyseOut(
        category=category,
        category_confidence=round(confidence, 4),
        ward=WardOut(code=ward.code, name=ward.name) if ward and ward.code and ward.name else None,
        ward_candidates=[WardOut(code=c.code, name=c.name) for c in ward.candidates]
        if ward
        else [],
    )


@router.get("/faq", response_model=FaqOut)
async def faq(
    session: SessionDep,
    _caller: ServiceCaller,
    q: Annotated[str, Query(min_length=1, max_length=1000)],
    language: Annotated[Language | None, Query()] = None,
) -> FaqOut:
    """The best FAQ answer to a question, in `language` (the question's own, unset), or nulls
    when none is close enough or the entry has no answer in that language.

    The entries are the ones staff edit in the panel (the shipped file until they are seeded).
    """
    from nlu.pipeline import ModelNotTrained, get_nlu

    def best() -> FaqAnswer | None:
        edited = faq_for_bot(session)
        if edited is None:
            return get_nlu().answer(q)
        version, entries = edited
        return get_nlu().answer(q, entries=entries, version=version)

    try:
        answer = await run_in_threadpool(best)
    except ModelNotTrained:
        answer = None
    language = language or detect_language(q)
    text = answer.text_in(language) if answer is not None else None
    if answer is None or text is None:
        return FaqOut(id=None, question=None, answer=None, score=None, language=language)
    return FaqOut(
        id=answer.id,
        question=answer.question,
        answer=text,
        score=round(answer.score, 4),
        language=language,
    )


_STATUS_SETS = {
    "open": citizen.OPEN_STATUSES,
    "resolved": citizen.RATEABLE,
    "all": tuple(TicketStatus),
}


@router.get("/tickets", response_model=OwnTickets)
def own_tickets(
    session: SessionDep,
    _caller: ServiceCaller,
    sender: Annotated[str, Query(min_length=3, max_length=130)],
    status: Annotated[str, Query(pattern="^(open|resolved|all)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
    tax_code: Annotated[str | None, Query(max_length=20)] = None,
) -> OwnTickets:
    """The sender's own tickets ("phản ánh của tôi"), newest first; with `tax_code`, the firm's
    tickets filed by any of its people, once the sender has filed under that code."""
    identity = Identity.from_sender(sender)
    if tax_code is not None:
        tickets = citizen.firm_tickets(
            session, identity, tax_code, statuses=_STATUS_SETS[status], limit=limit
        )
    else:
        tickets = citizen.own_tickets(session, identity, statuses=_STATUS_SETS[status], limit=limit)
    return OwnTickets(items=[ticket_summary(t) for t in tickets])


@router.post("/tickets/{code}/rating", response_model=RatingOut)
def rate_ticket(
    session: SessionDep, _caller: ServiceCaller, code: str, body: RatingIn
) -> RatingOut:
    """The sender rates their own resolved ticket; `fixed: false` reopens it."""
    rating = citizen.rate(
        session,
        Identity.from_sender(body.sender),
        code,
        score=body.score,
        fixed=body.fixed,
        comment=body.comment,
    )
    return RatingOut(
        code=rating.ticket.code,
        score=rating.survey.score,
        fixed=rating.survey.fixed,
        comment=rating.survey.comment,
        status=rating.ticket.status.value,
        reopened=rating.reopened,
    )


@router.post("/handoff", response_model=ConversationOut)
def hand_off(session: SessionDep, _caller: ServiceCaller, body: SenderIn) -> ConversationOut:
    """Hand the sender's conversation to staff; the bot stays quiet until it is handed back."""
    return _conversation_out(handoff.hand_off(session, Identity.from_sender(body.sender)))


def _conversation_out(conversation: Conversation) -> ConversationOut:
    return ConversationOut(
        id=conversation.id,
        channel=conversation.channel,
        handed_off=conversation.handed_off,
        last_message_at=conversation.last_message_at,
    )


@desk.get("", response_model=list[ConversationOut])
def waiting_conversations(session: SessionDep, _caller: DeskCaller) -> list[ConversationOut]:
    """Conversations handed to staff, the longest waiting first."""
    return [_conversation_out(c) for c in handoff.handed_off_conversations(session)]


@desk.get("/{conversation_id}/messages", response_model=list[ChatMessageOut])
def chat_messages(
    session: SessionDep, _caller: DeskCaller, conversation_id: RowId
) -> list[ChatMessageOut]:
    """The whole conversation, oldest first."""
    handoff.conversation_by_id(session, conversation_id)
    return [
        ChatMessageOut(
            id=m.id,
            direction=m.direction.value,
            text=m.text,
            payload=m.payload,
            state=m.state.value,
            failure_reason=m.failure_reason,
            created_at=m.created_at,
        )
        for m in conversation_messages(session, conversation_id)
    ]


@desk.post("/{conversation_id}/reply", response_model=ChatMessageOut, status_code=201)
def reply(
    session: SessionDep, caller: DeskCaller, conversation_id: RowId, body: StaffMessageIn
) -> ChatMessageOut:
    """An official writes into the chat; the web chat pushes it to the citizen."""
    message = handoff.staff_reply(
        session, conversation_id, text=body.text, username=caller.username or "staff"
    )
    return ChatMessageOut(
        id=message.id,
        direction=message.direction.value,
        text=message.text,
        payload=None,
        state=message.state.value,
        created_at=message.created_at,
    )


@desk.post("/{conversation_id}/handback", response_model=ConversationOut)
def hand_back(session: SessionDep, caller: DeskCaller, conversation_id: RowId) -> ConversationOut:
    """Give the conversation back to the bot."""
    return _conversation_out(
        handoff.hand_back(session, conversation_id, username=caller.username or "staff")
    )
