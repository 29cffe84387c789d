"""The start page and the ticket queue: one agency's tickets (all agencies for dispatchers) by
status, with the SLA clock, filters and search, refreshed without a reload."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
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


def queue_filters(
    who: SignedIn,
    *,
    tab: str,
    category: str | None,
    ward: str | None,
    channel: str | None,
    agency: str | None,
    day_from: str | None,
    day_to: str | None,
    overdue: bool,
    mine: bool,
    q: str | None,
) -> queries.TicketFilters:
    if tab == "open":
        statuses = list(OPEN_STATUSES)
    elif tab in TicketStatus.__members__.values():
        statuses = [TicketStatus(tab)]
    else:
        raise Invalid(f"Không có trạng thái '{tab}'.")
    start, end = _day(day_from, "từ ngày"), _day(day_to, "đến ngày")
    return queries.TicketFilters(
        status=statuses,
        agency=agency or None,
        category=category or None,
        ward=ward or None,
        channel=channel or None,
        created_from=_local_midnight(start) if start else None,
        created_to=_local_midnight(end + timedelta(days=1)) if end else None,
        overdue=overdue,
        assignee_id=who.user.id if mine else None,
        search=q or None,
    )


def _options(session: Session) -> dict[str, object]:
    lists = choices(session)
    return {"categories": lists.categories, "wards": lists.wards, "agencies": lists.agencies}


@router.get("/queue")
def queue(
    request: Request,
    session: SessionDep,
    who: Staff,
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
) -> Response:
    """The queue page; `/queue/rows` is the same list alone, for the refresh."""
    return _queue(request, session, who, locals(), template="queue.html")


@router.get("/queue/rows")
def queue_rows(
    request: Request,
    session: SessionDep,
    who: Staff,
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
) -> Response:
    return _queue(request, session, who, locals(), template="_queue_rows.html")


def _queue(
    request: Request, session: Session, who: SignedIn, params: dict[str, object], *, template: str
) -> Response:
    principal = who.principal
    require_ticket_reader(principal)
    filters = queue_filters(
        who,
        tab=str(params["tab"]),
        category=params["category"],  # type: ignore[arg-type]
        ward=params["ward"],  # type: ignore[arg-type]
        channel=params["channel"],  # type: ignore[arg-type]
        agency=params["agency"] if principal.sees_all_agencies else None,  # type: ignore[arg-type]
        day_from=params["day_from"],  # type: ignore[arg-type]
        day_to=params["day_to"],  # type: ignore[arg-type]
        overdue=bool(params["overdue"]),
        mine=bool(params["mine"]),
        q=params["q"],  # type: ignore[arg-type]
    )
    tickets, next_cursor = queries.list_tickets(
        session,
        principal=principal,
        filters=filters,
        cursor=params["cursor"] or None,  # type: ignore[arg-type]
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
