"""What admins configure in the panel: agencies, routing rules, the holiday calendar and the
FAQ. Each change is audited in the same transaction.

Routing rules are the rows `feedback.routing.choose_agency` reads (one reader): an admin edits
rows of the same shape as `routing.expand_rules` produces (a category in one ward, or in the
whole province, → an agency, with a priority).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from core.errors import Conflict, Invalid, NotFound
from core.text import is_code
from feedback.audit import record_audit
from feedback.auth import Principal
from feedback.models import (
    Agency,
    CalendarDay,
    Category,
    FaqEntry,
    RoutingRule,
    Ward,
)
from feedback.policy import require_admin
from feedback.sla import forget_calendar

if TYPE_CHECKING:
    from nlu.faq import FaqEntry as NluFaqEntry

# --- Agencies --------------------------------------------------------------------------------


def update_agency(
    session: Session,
    *,
    principal: Principal,
    code: str,
    name: str,
    active: bool,
    ip: str | None = None,
) -> Agency:
    """Rename an agency, or take it out of routing and assignment (inactive)."""
    require_admin(principal)
    agency = session.scalar(select(Agency).where(Agency.code == code))
    if agency is None:
        raise NotFound(f"Không có cơ quan mã '{code}'.")
    name = name.strip()
    if not name or len(name) > 200:
        raise Invalid("Tên cơ quan không được để trống (tối đa 200 ký tự).")
    before = {"name": agency.name, "active": agency.active}
    agency.name, agency.active = name, active
    if before != {"name": name, "active": active}:
        record_audit(
            session,
            actor=principal,
            action="agency.update",
            target=code,
            detail={"before": before, "after": {"name": name, "active": active}},
            ip=ip,
        )
    session.flush()
    return agency


# --- Routing rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleFilter:
    category: str | None = None
    ward: str | None = None
    agency: str | None = None


def list_rules(
    session: Session, *, principal: Principal, filters: RuleFilter, limit: int = 200
) -> list[RoutingRule]:
    require_admin(principal)
    query = (
        select(RoutingRule)
        .options(joinedload(RoutingRule.agency))
        .join(Agency, Agency.id == RoutingRule.agency_id)
        .order_by(
            RoutingRule.category_code,
            RoutingRule.ward_code.is_not(None),
            RoutingRule.ward_code,
            RoutingRule.priority.desc(),
        )
        .limit(limit)
    )
    if filters.category:
        query = query.where(RoutingRule.category_code == filters.category)
    if filters.ward:
        query = query.where(RoutingRule.ward_code == filters.ward)
    if filters.agency:
        query = query.where(Agency.code == filters.agency)
    return list(session.scalars(query))


def add_rule(
    session: Session,
    *,
    principal: Principal,
    category: str,
    ward_code: str | None,
    agency_code: str,
    priority: int,
    ip: str | None = None,
) -> RoutingRule:
    """A rule: `category` in `ward_code` (None: the whole province) goes to `agency_code`."""
    require_admin(principal)
    if session.get(Category, category) is None:
        raise Invalid(f"Không có lĩnh vực mã '{category}'.")
    if ward_code and session.get(Ward, ward_code) is None:
        raise Invalid(f"Không có phường/xã mã '{ward_code}'.")
    agency = session.scalar(select(Agency).where(Agency.code == agency_code))
    if agency is None or not agency.active:
        raise Invalid(f"Không có cơ quan đang hoạt động mã '{agency_code}'.")
    if not -1000 <= priority <= 1000:
        raise Invalid("Độ ưu tiên từ -1000 đến 1000.")
    exists = session.scalar(
        select(RoutingRule.id).where(
            RoutingRule.category_code == category,
            RoutingRule.ward_code.is_(None)
            if ward_code is None
            else RoutingRule.ward_code == ward_code,
            RoutingRule.agency_id == agency.id,
        )
    )
    if exists is not None:
        raise Conflict("Quy tắc này đã có: sửa độ ưu tiên của quy tắc đang có.")
    rule = RoutingRule(
        category_code=category, ward_code=ward_code or None, agency_id=agency.id, priority=priority
    )
    session.add(rule)
    session.flush()
    record_audit(
        session,
        actor=principal,
        action="routing_rule.create",
        target=f"{category} × {ward_code or 'toàn tỉnh'}",
        detail={"agency": agency_code, "priority": priority},
        ip=ip,
    )
    return rule


def set_rule_priority(
    session: Session, *, principal: Principal, rule_id: int, priority: int, ip: str | None = None
) -> RoutingRule:
    require_admin(principal)
    rule = session.get(RoutingRule, rule_id)
    if rule is None:
        raise NotFound("Không có quy tắc này.")
    if not -1000 <= priority <= 1000:
        raise Invalid("Độ ưu tiên từ -1000 đến 1000.")
    record_audit(
        session,
        actor=principal,
        action="routing_rule.priority",
        target=f"{rule.category_code} × {rule.ward_code or 'toàn tỉnh'}",
        detail={"before": rule.priority, "after": priority},
        ip=ip,
    )
    rule.priority = priority
    session.flush()
    return rule


def delete_rule(
    session: Session, *, principal: Principal, rule_id: int, ip: str | None = None
) -> None:
    require_admin(principal)
    rule = session.scalar(
        select(RoutingRule).options(joinedload(RoutingRule.agency)).where(RoutingRule.id == rule_id)
    )
    if rule is None:
        raise NotFound("Không có quy tắc này.")
    record_audit(
        session,
        actor=principal,
        action="routing_rule.delete",
        target=f"{rule.category_code} × {rule.ward_code or 'toàn tỉnh'}",
        detail={"agency": rule.agency.code, "priority": rule.priority},
        ip=ip,
    )
    session.delete(rule)
    session.flush()


# --- The holiday calendar --------------------------------------------------------------------


def list_calendar_days(session: Session) -> list[CalendarDay]:
    return list(session.scalars(select(CalendarDay).order_by(CalendarDay.day.desc())))


def set_calendar_day(
    session: Session,
    *,
    principal: Principal,
    day: date,
    name: str,
    working: bool,
    ip: str | None = None,
) -> CalendarDay:
    """Make a day a day off (a holiday, a swap) or a worked weekend day, over the files.
    Deadlines set from now on count it; deadlines already set do not move."""
    require_admin(principal)
    name = name.strip()
    if not name or "," in name or len(name) > 200:
        raise Invalid("Tên ngày không được để trống và không chứa dấu phẩy.")
    if working and day.weekday() < 5:
        raise Invalid("Chỉ thứ Bảy hoặc Chủ nhật mới có thể là ngày làm bù.")
    row = session.get(CalendarDay, day)
    if row is None:
        row = CalendarDay(day=day, name=name, working=working)
        session.add(row)
    else:
        row.name, row.working = name, working
    record_audit(
        session,
        actor=principal,
        action="calendar.set",
        target=day.isoformat(),
        detail={"name": name, "working": working},
        ip=ip,
    )
    session.flush()
    forget_calendar()
    return row


def delete_calendar_day(
    session: Session, *, principal: Principal, day: date, ip: str | None = None
) -> None:
    require_admin(principal)
    row = session.get(CalendarDay, day)
    if row is None:
        raise NotFound("Ngày này chưa được điều chỉnh.")
    record_audit(
        session,
        actor=principal,
        action="calendar.delete",
        target=day.isoformat(),
        detail={"name": row.name, "working": row.working},
        ip=ip,
    )
    session.delete(row)
    session.flush()
    forget_calendar()


# --- FAQ -------------------------------------------------------------------------------------


def list_faq(session: Session) -> list[FaqEntry]:
    return list(session.scalars(select(FaqEntry).order_by(FaqEntry.id)))


def save_faq(
    session: Session,
    *,
    principal: Principal,
    entry_id: str,
    question: str,
    answer: str,
    alternatives: list[str],
    active: bool,
    answer_en: str = "",
    ip: str | None = None,
) -> FaqEntry:
    """Create or change an entry; the bot answers from the active ones."""
    require_admin(principal)
    entry_id = entry_id.strip()
    if not is_code(entry_id):
        raise Invalid("Mã câu hỏi gồm chữ không dấu, số và dấu gạch dưới (ví dụ: gio_lam_viec).")
    question, answer = question.strip(), answer.strip()
    if not question or not answer:
        raise Invalid("Câu hỏi và câu trả lời không được để trống.")
    alternatives = [a.strip() for a in alternatives if a.strip()]
    entry = session.get(FaqEntry, entry_id)
    action = "faq.update" if entry else "faq.create"
    if entry is None:
        entry = FaqEntry(id=entry_id)
        session.add(entry)
    entry.question, entry.answer, entry.answer_en = question, answer, answer_en.strip()
    entry.alternatives, entry.active = alternatives, active
    entry.updated_at = datetime.now(UTC)
    record_audit(session, actor=principal, action=action, target=entry_id, ip=ip)
    session.flush()
    return entry


def delete_faq(
    session: Session, *, principal: Principal, entry_id: str, ip: str | None = None
) -> None:
    require_admin(principal)
    entry = session.get(FaqEntry, entry_id)
    if entry is None:
        raise NotFound("Không có câu hỏi này.")
    record_audit(
        session,
        actor=principal,
        action="faq.delete",
        target=entry_id,
        detail={"question": entry.question},
        ip=ip,
    )
    session.delete(entry)
    session.flush()


def seed_faq(session: Session, *, path: Path | None = None) -> int:
    """Copy the shipped FAQ file into the table when it is empty (`tiepdan seed`); when it is
    not, give the shipped English answer to the entries that have none (`add_english_answers`).
    Returns how many entries were added or given one."""
    from nlu.faq import DEFAULT_FAQ_FILE, load_entries

    entries = load_entries(path or DEFAULT_FAQ_FILE)
    if session.scalar(select(FaqEntry.id).limit(1)) is not None:
        return add_english_answers(session, entries)
    for item in entries:
        session.add(
            FaqEntry(
                id=item.id,
                question=item.question,
                answer=item.answer,
                answer_en=item.answer_en,
                alternatives=list(item.alternatives),
                active=True,
                updated_at=datetime.now(UTC),
            )
        )
    session.flush()
    return len(entries)


def add_english_answers(session: Session, shipped: list[NluFaqEntry]) -> int:
    """Give a seeded entry without an English answer the shipped one, with the shipped English
    phrasings, if staff have not changed its Vietnamese answer since: an English answer to a
    question staff rewrote could say something else."""
    from nlu.language import detect_language

    changed = 0
    for item in shipped:
        entry = session.get(FaqEntry, item.id)
        if entry is None or entry.answer_en or not item.answer_en or entry.answer != item.answer:
            continue
        have = list(entry.alternatives or [])
        english = [a for a in item.alternatives if detect_language(a) == "en" and a not in have]
        entry.answer_en = item.answer_en
        entry.alternatives = have + english
        entry.updated_at = datetime.now(UTC)
        changed += 1
    session.flush()
    return changed


def faq_for_bot(session: Session) -> tuple[str, list[NluFaqEntry]] | None:
    """The active entries the bot answers from, with a version that changes with any edit;
    None while the table is empty (the bot then answers from the FAQ file)."""
    from nlu.faq import FaqEntry as Entry

    count, latest = session.execute(select(func.count(), func.max(FaqEntry.updated_at))).one()
    if not count:
        return None
    rows = session.scalars(
        select(FaqEntry).where(FaqEntry.active.is_(True)).order_by(FaqEntry.id)
    ).all()
    entries = [
        Entry(r.id, r.question, r.answer, tuple(r.alternatives or ()), r.answer_en or "")
        for r in rows
    ]
    return f"{count}:{latest.isoformat() if latest else ''}", entries
