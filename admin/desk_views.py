"""The dispatchers' desks: triage (the tickets the NLU was unsure of, confirmed in one click)
and the conversations handed to a person (replied to live, then handed back to the bot)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.deps import Staff, check_csrf
from admin.templating import render
from bot import handoff
from bot.conversations import conversation_messages
from core.http import RowId, SessionDep
from feedback import queries
from feedback.models import Agency, Category, Ticket, TicketStatus
from feedback.policy import require_dispatcher
from feedback.routing import choose_agency

router = APIRouter()
guarded = APIRouter(dependencies=[Depends(check_csrf)])


@dataclass(frozen=True)
class Choice:
    """One of the NLU's categories for a ticket, and the agency routing would send it to."""

    category: str
    category_name: str
    confidence: float | None
    agency: Agency | None


def triage_choices(session: Session, ticket: Ticket, names: dict[str, str]) -> list[Choice]:
    """The NLU's top three (or its one guess), each with the agency the routing rules imply."""
    candidates = ticket.category_candidates or (
        [{"category": ticket.predicted_category_code, "confidence": ticket.category_confidence}]
        if ticket.predicted_category_code
        else []
    )
    choices = []
    for item in candidates[:3]:
        code = item.get("category")
        if not code or code not in names:
            continue
        agency = choose_agency(session, category_code=code, ward_code=ticket.ward_code)
        choices.append(Choice(code, names[code], item.get("confidence"), agency))
    return choices


@router.get("/triage")
def triage(
    request: Request, session: SessionDep, who: Staff, cursor: str | None = None
) -> Response:
    require_dispatcher(who.principal)
    tickets, next_cursor = queries.list_tickets(
        session,
        principal=who.principal,
        filters=queries.TicketFilters(status=[TicketStatus.TRIAGE]),
        cursor=cursor,
        limit=30,
        with_history=False,
    )
    names = dict(session.execute(select(Category.code, Category.name)).all())
    rows = [(t, triage_choices(session, t, names)) for t in tickets]
    return render(
        request,
        "triage.html",
        {
            "rows": rows,
            "next_cursor": next_cursor,
            "categories": sorted(names.items(), key=lambda item: item[1]),
            "agencies": session.scalars(
                select(Agency).where(Agency.active.is_(True)).order_by(Agency.level, Agency.name)
            ).all(),
        },
        who=who,
    )


@router.get("/conversations")
def conversations(request: Request, session: SessionDep, who: Staff) -> Response:
    require_dispatcher(who.principal)
    waiting = handoff.handed_off_conversations(session)
    template = "_conversation_list.html" if request.headers.get("hx-request") else "desk.html"
    return render(request, template, {"waiting": waiting, "current": None, "messages": []}, who=who)


@router.get("/conversations/{conversation_id}")
def conversation(
    request: Request, session: SessionDep, who: Staff, conversation_id: RowId
) -> Response:
    require_dispatcher(who.principal)
    current = handoff.conversation_by_id(session, conversation_id)
    return render(
        request,
        "desk.html",
        {
            "waiting": handoff.handed_off_conversations(session),
            "current": current,
            "messages": conversation_messages(session, conversation_id),
        },
        who=who,
    )


@router.get("/conversations/{conversation_id}/messages")
def messages(request: Request, session: SessionDep, who: Staff, conversation_id: RowId) -> Response:
    """The conversation's messages alone: the page polls it, so the citizen's words appear."""
    require_dispatcher(who.principal)
    current = handoff.conversation_by_id(session, conversation_id)
    return render(
        request,
        "_chat_messages.html",
        {"current": current, "messages": conversation_messages(session, conversation_id)},
        who=who,
    )


@guarded.post("/conversations/{conversation_id}/reply")
def reply(
    request: Request,
    session: SessionDep,
    who: Staff,
    conversation_id: RowId,
    text: Annotated[str, Form(min_length=1, max_length=4000)],
) -> Response:
    require_dispatcher(who.principal)
    handoff.staff_reply(session, conversation_id, text=text.strip(), username=who.user.username)
    if request.headers.get("hx-request"):
        current = handoff.conversation_by_id(session, conversation_id)
        return render(
            request,
            "_chat_messages.html",
            {"current": current, "messages": conversation_messages(session, conversation_id)},
            who=who,
        )
    return RedirectResponse(f"/admin/conversations/{conversation_id}?done=replied", status_code=303)


@guarded.post("/conversations/{conversation_id}/handback")
def hand_back(session: SessionDep, who: Staff, conversation_id: RowId) -> Response:
    require_dispatcher(who.principal)
    handoff.hand_back(session, conversation_id, username=who.user.username)
    return RedirectResponse("/admin/conversations?done=handed_back", status_code=303)


router.include_router(guarded)
