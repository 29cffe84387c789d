"""JSON routes of the feedback domain: auth, agencies, tickets, and the public lookup.

Routes are thin: they parse, call a service, and shape the answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from core.errors import Invalid
from core.http import SessionDep
from feedback import auth, queries, reference, service
from feedback.auth import CurrentPrincipal
from feedback.models import TicketStatus
from feedback.policy import require_ticket_filer
from feedback.schemas import (
    AgencyOut,
    PublicReply,
    PublicTicketOut,
    TicketCreate,
    TicketOut,
    TicketPage,
    TokenOut,
    ticket_out,
    ticket_summary,
)

router = APIRouter(prefix="/api/v1")


@router.post("/auth/token", response_model=TokenOut, tags=["auth"])
def login(session: SessionDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenOut:
    """Exchange a staff username and password for a bearer token (OAuth2 password flow)."""
    user = auth.authenticate(session, username=form.username, password=form.password)
    return TokenOut(access_token=auth.issue_access_token(user))


@router.get("/agencies", response_model=list[AgencyOut], tags=["agencies"])
def list_agencies(session: SessionDep) -> list[AgencyOut]:
    """Every active agency: city departments and ward People's Committees."""
    return [
        AgencyOut(code=a.code, name=a.name, level=a.level.value)
        for a in reference.list_agencies(session)
    ]


@router.post("/tickets", status_code=201, response_model=TicketOut, tags=["tickets"])
async def create_ticket(
    session: SessionDep, principal: CurrentPrincipal, data: TicketCreate
) -> TicketOut:
    """File a ticket (staff intake desk, or the bot's action server with the service token).

    Routing runs in the worker: the answer shows `new`, and the ticket moves to `assigned`
    or `triage` moments later.
    """
    require_ticket_filer(principal)
    # async, with the work in one trip to the thread pool: a plain-def route takes two (the
    # route, then the response's validation), and creation is the busiest write path.
    ticket = await run_in_threadpool(service.create_ticket, session, data=data, actor=principal)
    return ticket_out(ticket)


@router.get("/tickets", response_model=TicketPage, tags=["tickets"])
def list_tickets(
    session: SessionDep,
    principal: CurrentPrincipal,
    status: Annotated[list[TicketStatus] | None, Query(description="Repeat for several")] = None,
    agency: str | None = None,
    category: str | None = None,
    ward: str | None = None,
    created_from: Annotated[datetime | None, Query(alias="from")] = None,
    created_to: Annotated[datetime | None, Query(alias="to")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TicketPage:
    """A page of tickets, newest first. Agency staff see their own agency's only."""
    for moment, name in ((created_from, "from"), (created_to, "to")):
        if moment is not None and moment.tzinfo is None:
            raise Invalid(f"'{name}' needs a timezone, e.g. 2026-11-01T00:00:00+07:00.")
        try:
            if moment is not None:
                moment.astimezone(UTC)  # year 1 at +14:00 has no UTC time: a 500 otherwise
        except OverflowError as exc:
            raise Invalid(f"'{name}' is out of range.") from exc
    filters = queries.TicketFilters(
        status=status,
        agency=agency,
        category=category,
        ward=ward,
        created_from=created_from,
        created_to=created_to,
    )
    tickets, next_cursor = queries.list_tickets(
        session, principal=principal, filters=filters, cursor=cursor, limit=limit
    )
    return TicketPage(items=[ticket_out(t) for t in tickets], next_cursor=next_cursor)


@router.get("/tickets/{code}", response_model=TicketOut, tags=["tickets"])
def get_ticket(session: SessionDep, principal: CurrentPrincipal, code: str) -> TicketOut:
    """One ticket with its whole history."""
    return ticket_out(queries.get_ticket(session, code=code, principal=principal))


_ACTION_EXAMPLES = {
    "reply": {"summary": "reply", "value": {"message": "Đã tiếp nhận, sẽ kiểm tra trong tuần."}},
    "assign": {"summary": "assign / transfer", "value": {"agency": "SXD"}},
    "reject": {"summary": "reject", "value": {"reason": "Không thuộc thẩm quyền giải quyết."}},
    "resolve": {"summary": "resolve / note", "value": {"message": "Đã thay bóng đèn."}},
    "start": {"summary": "start / reopen / close", "value": {}},
}


@router.post("/tickets/{code}/{action}", response_model=TicketOut, tags=["tickets"])
def act_on_ticket(
    session: SessionDep,
    principal: CurrentPrincipal,
    code: str,
    action: str,
    payload: Annotated[dict[str, Any] | None, Body(openapi_examples=_ACTION_EXAMPLES)] = None,
) -> TicketOut:
    """Run an action: assign, start, reply, transfer, resolve, reject, reopen, close or note.

    Bodies: `{"message"}` for reply, resolve and note; `{"agency"}` (and optionally
    `"category"`) for assign and transfer; `{"reason"}` for reject. An action the ticket's
    status does not allow answers 409 with the reason.
    """
    try:
        body = service.parse_action_body(action, payload)
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()
        )
        raise Invalid(f"Invalid body for '{action}': {fields}") from exc
    ticket = service.apply_action(session, code=code, action=action, body=body, principal=principal)
    return ticket_out(ticket)


@router.get("/public/tickets/{code}", response_model=PublicTicketOut, tags=["public"])
def public_ticket(session: SessionDep, code: str) -> PublicTicketOut:
    """Status and public replies of a ticket, for whoever holds its code. No personal data."""
    ticket = queries.get_public_ticket(session, code=code)
    replies = [
        PublicReply(
            message=e.message or "",
            agency=e.agency.name if e.agency else None,
            created_at=e.created_at,
        )
        for e in ticket.events
        if e.public and e.message
    ]
    return PublicTicketOut(**ticket_summary(ticket).model_dump(), replies=replies)
