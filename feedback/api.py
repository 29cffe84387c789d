"""JSON routes of the feedback domain: auth, agencies, tickets, and the public lookup.

Routes are thin: they parse, call a service, and shape the answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from core import ratelimit
from core.errors import Invalid, NotFound
from core.http import SessionDep, client_ip
from core.settings import get_settings
from feedback import attachments, auth, queries, reference, service
from feedback.auth import CurrentPrincipal
from feedback.models import TicketStatus
from feedback.policy import require_action, require_ticket_filer
from feedback.schemas import (
    AgencyOut,
    EvidenceOut,
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

TOO_MANY_LOOKUPS = "Bạn tra cứu quá nhiều lần. Bạn vui lòng thử lại sau {seconds} giây."


@router.post(
    "/auth/token",
    response_model=TokenOut,
    tags=["auth"],
    responses={401: {"description": "Wrong credentials, or the account is locked"}},
)
def login(
    request: Request,
    session: SessionDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    otp: Annotated[str | None, Form(max_length=10)] = None,
) -> TokenOut | JSONResponse:
    """Exchange a staff username and password for a bearer token (OAuth2 password flow).

    Too many wrong passwords in a row lock the account for a while (TIEPDAN_LOGIN_*); too
    many attempts from one address or on one account get 429 (TIEPDAN_LIMIT_LOGINS_*). An
    account with two-factor sign-in (set up in the panel) also sends its TOTP code as `otp`.
    """
    auth.check_sign_in_rate(username=form.username, ip=client_ip(request))
    result = auth.check_credentials(session, username=form.username, password=form.password)
    error = (
        result.error
        if result.user is None
        else auth.check_second_factor(session, user=result.user, code=otp)
    )
    if result.user is None or error is not None:
        # Returned, not raised: the failure count is committed with the request.
        return JSONResponse(
            {"detail": error}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    return TokenOut(access_token=auth.issue_access_token(result.user))


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
    channel: Annotated[str | None, Query(max_length=20)] = None,
    overdue: Annotated[bool, Query(description="Open and past the SLA deadline")] = False,
    q: Annotated[str | None, Query(max_length=200, description="A code, or words")] = None,
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
        channel=channel,
        overdue=overdue,
        search=q,
    )
    tickets, next_cursor = queries.list_tickets(
        session, principal=principal, filters=filters, cursor=cursor, limit=limit
    )
    return TicketPage(items=[ticket_out(t) for t in tickets], next_cursor=next_cursor)


@router.get("/tickets/{code}", response_model=TicketOut, tags=["tickets"])
def get_ticket(session: SessionDep, principal: CurrentPrincipal, code: str) -> TicketOut:
    """One ticket with its whole history."""
    return ticket_out(queries.get_ticket(session, code=code, principal=principal))


# Declared before the action route below, which would otherwise take "attachments" for an action.
@router.post(
    "/tickets/{code}/attachments", response_model=EvidenceOut, status_code=201, tags=["tickets"]
)
async def upload_evidence(
    session: SessionDep,
    principal: CurrentPrincipal,
    code: str,
    file: Annotated[UploadFile, File(description="A photo (JPEG, PNG, WebP) or a PDF")],
) -> EvidenceOut:
    """Upload a piece of evidence for a resolution; pass its URL in resolve's `attachments`.

    The type is read from the file's bytes, not from its name. The URL is random: the citizen
    who filed the ticket is shown it, and nobody can guess another.
    """
    await run_in_threadpool(_check_can_resolve, session, code=code, principal=principal)
    data = await file.read()
    return EvidenceOut(url=await run_in_threadpool(attachments.save_evidence, data))


def _check_can_resolve(session: Session, *, code: str, principal: auth.Principal) -> None:
    queries.get_ticket(session, code=code, principal=principal)
    require_action(principal, "resolve")


_ACTION_EXAMPLES = {
    "reply": {"summary": "reply", "value": {"message": "Đã tiếp nhận, sẽ kiểm tra trong tuần."}},
    "assign": {"summary": "assign / transfer", "value": {"agency": "SXD"}},
    "reject": {"summary": "reject", "value": {"reason": "Không thuộc thẩm quyền giải quyết."}},
    "resolve": {
        "summary": "resolve (evidence uploaded first)",
        "value": {
            "message": "Đã thay bóng đèn.",
            "attachments": ["/api/v1/webchat/photos/<name>.jpg"],
        },
    },
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

    Bodies: `{"message"}` for reply and note; `{"message", "attachments": [url, ...]}` for
    resolve, which needs at least one piece of evidence uploaded with
    `POST /tickets/{code}/attachments`; `{"agency"}` (and optionally `"category"`) for assign
    and transfer; `{"reason"}` for reject; `{"assignee"}` for assign_staff (and optionally for
    start); `{"category"}` for recategorize; `{"into": code}` for merge. An action the
    ticket's status does not allow answers 409 with the reason.
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


@router.get("/documents/{name}", tags=["tickets"])
def document(name: str) -> FileResponse:
    """An evidence document, by the name its upload returned; downloaded, never rendered."""
    path = attachments.document_path(name)
    if path is None:
        raise NotFound("No such document.")
    return FileResponse(
        path,
        media_type=attachments.DOCUMENT_MEDIA_TYPES[path.suffix.lstrip(".")],
        filename=f"minh-chung{path.suffix}",
        content_disposition_type="attachment",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=86400"},
    )


@router.get("/public/tickets/{code}", response_model=PublicTicketOut, tags=["public"])
def public_ticket(request: Request, session: SessionDep, code: str) -> PublicTicketOut:
    """Status and public replies of a ticket, for whoever holds its code. No personal data.

    Codes are not to be guessed: past TIEPDAN_LIMIT_PUBLIC_LOOKUPS_PER_IP, 429.
    """
    ratelimit.enforce(
        f"lookups:ip:{client_ip(request)}",
        get_settings().limit_public_lookups_per_ip,
        message=TOO_MANY_LOOKUPS,
    )
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
