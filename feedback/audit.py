"""The audit log: who changed what and when, and who read a citizen's contact details.

Written in the same transaction as the change it records, so a change that is rolled back
leaves no entry, and an entry never describes a change that did not happen.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedback.auth import Principal
from feedback.models import AuditEntry, Contact
from feedback.policy import require_admin
from feedback.queries import get_ticket


def record_audit(
    session: Session,
    *,
    actor: Principal,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """Append one entry; `action` reads like `user.create`, `routing_rule.delete`."""
    entry = AuditEntry(
        actor_id=actor.user_id,
        actor=actor.username or actor.kind,
        action=action,
        target=target,
        detail=detail or {},
        ip=ip,
        created_at=now or datetime.now(UTC),
    )
    session.add(entry)
    return entry


def list_audit(
    session: Session,
    *,
    principal: Principal,
    action: str | None = None,
    actor: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """The newest entries first; admins only."""
    require_admin(principal)
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEntry.action.startswith(action))
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if before_id:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query))


def reveal_contact(
    session: Session, *, code: str, principal: Principal, ip: str | None = None
) -> Contact | None:
    """A ticket's contact details in full, for whoever may see the ticket; the read is logged."""
    ticket = get_ticket(session, code=code, principal=principal)
    if ticket.contact is None:
        return None
    record_audit(session, actor=principal, action="contact.reveal", target=ticket.code, ip=ip)
    return ticket.contact


def mask_phone(phone: str | None) -> str | None:
    """0912345678 → 091•••••78: enough to recognise, not to call."""
    if not phone:
        return None
    return phone[:3] + "•" * max(len(phone) - 5, 0) + phone[-2:]


def mask_name(name: str | None) -> str | None:
    """Nguyễn Văn An → N. V. An: the given name stays, the rest is initials."""
    if not name:
        return None
    parts = name.split()
    return " ".join([*(p[0] + "." for p in parts[:-1]), parts[-1]])
