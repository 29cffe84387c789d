"""The ticket status machine: which action may move a ticket from which status to which.

new → triage | assigned → in_progress → resolved → closed; resolved → reopened → in_progress.
Any open status may become rejected (with a reason). A transfer changes the agency, not the status.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import Conflict
from feedback.models import OPEN_STATUSES, TicketStatus

S = TicketStatus


@dataclass(frozen=True)
class Transition:
    allowed_from: frozenset[TicketStatus]
    to_status: TicketStatus | None  # None keeps the current status


_ACTIVE = frozenset({S.ASSIGNED, S.IN_PROGRESS, S.REOPENED})

TRANSITIONS: dict[str, Transition] = {
    "route": Transition(frozenset({S.NEW}), None),  # the router picks assigned or triage
    "assign": Transition(frozenset({S.NEW, S.TRIAGE}), S.ASSIGNED),
    "start": Transition(frozenset({S.ASSIGNED, S.REOPENED}), S.IN_PROGRESS),
    "reply": Transition(frozenset({S.TRIAGE, *_ACTIVE, S.RESOLVED}), None),
    "transfer": Transition(_ACTIVE, None),
    "resolve": Transition(frozenset({S.IN_PROGRESS}), S.RESOLVED),
    "reject": Transition(frozenset(OPEN_STATUSES), S.REJECTED),
    "reopen": Transition(frozenset({S.RESOLVED}), S.REOPENED),
    "close": Transition(frozenset({S.RESOLVED}), S.CLOSED),
    "note": Transition(frozenset(TicketStatus), None),
    "assign_staff": Transition(_ACTIVE, None),
    "recategorize": Transition(frozenset({S.TRIAGE, *_ACTIVE}), None),
    # A confirmed duplicate leaves the queues; its citizen follows the original from then on.
    "merge": Transition(frozenset(OPEN_STATUSES), S.CLOSED),
}

_HINTS = {
    "resolve": "start work on it first",
    "start": "it must be assigned to an agency first",
    "transfer": "a ticket in triage is assigned, not transferred",
    "close": "only a resolved ticket can be closed",
    "reopen": "only a resolved ticket can be reopened",
    "merge": "only an open ticket can be merged into another",
}


def check_transition(action: str, status: TicketStatus) -> TicketStatus:
    """The status after `action`, or a Conflict explaining why the action is not allowed now."""
    transition = TRANSITIONS[action]
    if status not in transition.allowed_from:
        reason = f"Cannot {action} a ticket whose status is '{status.value}'"
        hint = _HINTS.get(action)
        raise Conflict(f"{reason}: {hint}." if hint else f"{reason}.")
    return transition.to_status or status
