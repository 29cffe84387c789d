"""Jinja2 with autoescape on: whatever a citizen wrote is shown as text, never as markup."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from admin import labels
from admin.sessions import SignedIn
from core.settings import get_settings
from feedback.models import OPEN_STATUSES, StaffRole, Ticket
from feedback.sla import WorkingCalendar

TEMPLATES = Path(__file__).resolve().parent / "templates"


def local(moment: datetime | None, pattern: str = "%d/%m/%Y %H:%M") -> str:
    """A stored UTC time as the clock on the office wall shows it."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(get_settings().timezone)).strftime(pattern)


def _span(seconds: float, day_seconds: float) -> str:
    days, rest = divmod(int(abs(seconds)), int(day_seconds))
    hours = rest // 3600
    if days:
        return f"{days} ngày {hours} giờ"
    return f"{hours} giờ" if hours else f"{max(rest // 60, 1)} phút"


def sla_state(ticket: Ticket, calendar: WorkingCalendar, now: datetime) -> tuple[str, str]:
    """The SLA clock in working days and hours, and a CSS class: ok, soon, late, done."""
    due = ticket.sla_due_at
    if due is None:
        return "Chưa có hạn", "none"
    day = calendar.office_day_seconds
    if ticket.status not in OPEN_STATUSES:
        finished = ticket.resolved_at or ticket.closed_at
        if finished is None:
            return "Đã kết thúc", "done"
        return ("Đúng hạn", "done") if finished <= due else ("Trễ hạn", "late-done")
    left = calendar.working_seconds(now, due)
    if due <= now:
        return f"Quá hạn {_span(calendar.working_seconds(due, now), day)} làm việc", "late"
    return f"Còn {_span(left, day)} làm việc", "soon" if left < day else "ok"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its extension
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = local
    env.filters["status"] = labels.status
    env.globals.update(
        STATUS=labels.STATUS,
        KIND=labels.KIND,
        CHANNEL=labels.CHANNEL,
        PRIORITY=labels.PRIORITY,
        ROLE=labels.ROLE,
        EVENT=labels.EVENT,
        DELIVERY=labels.DELIVERY,
        sla_state=sla_state,
    )
    return env


_env: Environment | None = None


def environment() -> Environment:
    global _env
    if _env is None:
        _env = _environment()
    return _env


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    who: SignedIn | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """A page (or an HTMX fragment), with what every page needs: who, the CSRF token, the menu."""
    role = who.user.role if who else None
    done = request.query_params.get("done")
    page = {
        "request": request,
        "who": who,
        "csrf": who.csrf_token if who else "",
        "role": role.value if role else None,
        "is_admin": role == StaffRole.ADMIN,
        "is_dispatcher": role in (StaffRole.ADMIN, StaffRole.DISPATCHER),
        "reads_tickets": role in (StaffRole.ADMIN, StaffRole.DISPATCHER, StaffRole.AGENCY_STAFF),
        "reads_dashboard": role in (StaffRole.ADMIN, StaffRole.DISPATCHER, StaffRole.VIEWER),
        "done": labels.DONE.get(done or ""),
        "error": None,
        "now": datetime.now(UTC),
        **context,
    }
    if isinstance(page["error"], str):
        page["error"] = labels.vietnamese(page["error"])
    if isinstance(page.get("message"), str):
        page["message"] = labels.vietnamese(page["message"])
    html = environment().get_template(template).render(page)
    return HTMLResponse(html, status_code=status_code)
