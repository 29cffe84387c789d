"""Who may see and do what with tickets: one set of rules for the API, the bot and the panel.

Agency staff see and act on their own agency's tickets only; dispatchers and admins see all
agencies; viewers see aggregate figures, never a ticket; the bot's service token reads a chat's
own tickets through /api/v1/bot only.
"""

from __future__ import annotations

from core.errors import Forbidden
from feedback.auth import Principal
from feedback.models import StaffRole, Ticket

# Actions agency staff may take on their own agency's tickets; assigning is the dispatchers'.
STAFF_ACTIONS = frozenset(
    {
        "start",
        "reply",
        "transfer",
        "resolve",
        "reject",
        "reopen",
        "close",
        "note",
        "assign_staff",
        "recategorize",
        "merge",
    }
)


def can_see_ticket(principal: Principal, ticket: Ticket) -> bool:
    """Agency staff see their own agency's tickets only; viewers see aggregates, not tickets."""
    if principal.sees_all_agencies:
        return True
    if principal.role == StaffRole.AGENCY_STAFF:
        return ticket.agency_id is not None and ticket.agency_id == principal.agency_id
    return False


def require_ticket_reader(principal: Principal) -> None:
    """Refuse the principals that never read individual tickets."""
    if principal.kind == "apikey":
        raise Forbidden("An API key reads aggregate figures (/api/v1/ioc) or Open311, not tickets.")
    if principal.kind == "staff" and principal.role == StaffRole.VIEWER:
        raise Forbidden("Viewers see aggregate figures, not individual tickets.")
    if principal.kind == "service":
        # The bot reads a chat's own tickets through /api/v1/bot, never the staff view with
        # every contact's phone number.
        raise Forbidden("The service token reads tickets through /api/v1/bot/tickets only.")


def require_action(principal: Principal, action: str) -> None:
    """Refuse an action this kind of principal may not take on a ticket it can see."""
    if principal.sees_all_agencies and principal.kind != "service":
        return
    if principal.role == StaffRole.AGENCY_STAFF and action in STAFF_ACTIONS:
        return
    if action == "assign":
        raise Forbidden("Only dispatchers and admins assign tickets.")
    raise Forbidden(f"This account may not {action} tickets.")


def require_ticket_filer(principal: Principal) -> None:
    """Everyone but a viewer may file a ticket (staff at an intake desk, the bot); an API key
    files only through Open311."""
    if principal.kind == "apikey":
        raise Forbidden("An API key files requests through Open311 (POST /open311/v2/requests).")
    if principal.kind == "staff" and principal.role == StaffRole.VIEWER:
        raise Forbidden("Viewers cannot file tickets.")


def require_admin(principal: Principal) -> None:
    """Users, agencies, routing rules, the calendar, the FAQ, the reply templates and the audit
    log are the admins'."""
    if principal.kind != "staff" or principal.role != StaffRole.ADMIN:
        raise Forbidden("Chỉ quản trị viên được làm việc này.")


def require_dashboard_reader(principal: Principal) -> None:
    """The figures of every agency: admins, dispatchers and the IOC's viewers."""
    if principal.role not in (StaffRole.ADMIN, StaffRole.DISPATCHER, StaffRole.VIEWER):
        raise Forbidden("Bảng số liệu dành cho điều phối viên, quản trị viên và IOC.")


def require_ioc_reader(principal: Principal) -> None:
    """The IOC's figures (every agency, aggregates only): viewers, admins and dispatchers, or an
    `ioc` API key. Agency staff see their own queue, not the province's figures."""
    if principal.kind == "apikey":
        if principal.scope == "ioc":
            return
        raise Forbidden("This API key's scope is not 'ioc'.")
    if principal.kind == "staff" and principal.role in (
        StaffRole.ADMIN,
        StaffRole.DISPATCHER,
        StaffRole.VIEWER,
    ):
        return
    raise Forbidden("The IOC figures are for viewers, dispatchers, admins and 'ioc' API keys.")


def require_open311_filer(principal: Principal) -> None:
    """Filing through Open311 needs an `open311` API key."""
    if principal.kind != "apikey" or principal.scope != "open311":
        raise Forbidden("Filing a request through Open311 needs an 'open311' api_key.")


def require_dispatcher(principal: Principal) -> None:
    """Triage and the conversations desk are the dispatchers' (and admins')."""
    if principal.kind != "staff" or principal.role not in (StaffRole.ADMIN, StaffRole.DISPATCHER):
        raise Forbidden("Chỉ điều phối viên và quản trị viên được làm việc này.")
