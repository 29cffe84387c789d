"""The start page and the ticket queue: one agency's tickets (all agencies for dispatchers) by
status, with the SLA clock, filters and search, refreshed without a reload."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from admin.choices import choices
from admin.deps import Staff
from admin.sessions import SignedIn
from admin.templating import render
from core.errors import Invalid
from core.http import SessionDep
from core.settings import get_settings
from feedback import queries
from feedback.models import OPEN_STATUSES, StaffRole, TicketStatus
from feedback.policy import require_ticket_reader
from feedback.sla import current_calendar

router = APIRouter()

PAGE_SIZE = 50
# The queue's tabs: the open tickets, then each status.
TABS = ["open", "triage", "assigned", "in_progress", "reopened", "resolved", "closed", "rejected"]


@router.get("/")
def home(who: Staff) -> Response:
    if who.user.role == StaffRole.VIEWER:
        return RedirectResponse("/admin/dashboard", status_code=303)
    return RedirectResponse("/admin/queue", status_code=303)


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"Ngày '{name}' không hợp lệ: dùng dạng năm-tháng-ngày.") from None


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(get_settings().timezone)).astimezone(UTC)


@dataclass(frozen=True)
class QueueParams:
    """The queue's query string: its tab (a status, or all open ones), filters and page."""

    tab: str = "open"
    category: str | None = None
    ward: str | None = None
    channel: str | None = None
    agency: str | None = None
    day_from: str | None = None
    day_to: str | None = None
    overdue: bool = False
    mine: bool = False
    q: str | None = None
    cursor: str | None = None


def queue_params(
    tab: str = "open",
    category: str | None = None,
    ward: str | None = None,
    channel: str | None = None,
    agency: str | None = None,
    day_from: Annotated[str | None, Query(alias="from")] = None,
    day_to: Annotated[str | None, Query(alias="to")] = None,
    overdue: bool = False,
    mine: bool = False,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: str | None = None,
) -> QueueParams:
    return QueueParams(
        tab, category, ward, channel, agency, day_from, day_to, overdue, mine, q, cursor
    )


Params = Annotated[QueueParams, Depends(queue_params)]


def queue_filters(who: SignedIn, params: QueueParams) -> queries.TicketFilters:
    """The filters of list_tickets for the queue's query string."""
    if params.tab == "open":
        statuses = list(OPEN_STATUSES)
    elif params.tab in TicketStatus.__members__.values():
        statuses = [TicketStatus(params.tab)]
    else:
        raise Invalid(f"Không có trạng thái '{params.tab}'.")
    start, end = _day(params.day_from, "từ ngày"), _day(params.day_to, "đến ngày")
    return queries.TicketFilters(
        status=statuses,
        agency=(params.agency or None) if who.principal.sees_all_agencies else None,
        category=params.category or None,
        ward=params.ward or None,
        channel=params.channel or None,
        created_from=_local_midnight(start) if start else None,
        created_to=_local_midnight(end + timedelta(days=1)) if end else None,
        overdue=params.overdue,
        assignee_id=who.user.id if params.mine else None,
        search=params.q or None,
    )


def _options(session: Session) -> dict[str, object]:
    lists = choices(session)
    return {"categories": lists.categories, "wards": lists.wards, "agencies": lists.agencies}


@router.get("/queue")
def queue(request: Request, session: SessionDep, who: Staff, params: Params) -> Response:
    """The queue page; `/queue/rows` is the same list alone, for the refresh."""
    return _queue(request, session, who, params, template="queue.html")


@router.get("/queue/rows")
def queue_rows(request: Request, session: SessionDep, who: Staff, params: Params) -> Response:
    return _queue(request, session, who, params, template="_queue_rows.html")


def _queue(
    request: Request, session: Session, who: SignedIn, params: QueueParams, *, template: str
) -> Response:
    principal = who.principal
    require_ticket_reader(principal)
    tickets, next_cursor = queries.list_tickets(
        session,
        principal=principal,
        filters=queue_filters(who, params),
        cursor=params.cursor or None,
        limit=PAGE_SIZE,
        with_history=False,
    )
    # The query string without the cursor: the refresh and the "next page" link keep filters.
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    context: dict[str, object] = {
        "tickets": tickets,
        "next_cursor": next_cursor,
        "calendar": current_calendar(session),
        "params": params,
        "tabs": TABS,
        "query": kept,
        "names": choices(session).category_names,
    }
    if template == "queue.html":
        context.update(_options(session))
    return render(request, template, context, who=who)
