"""Reply templates staff pick on a ticket's page, in the citizen's language.

Staff work in Vietnamese. A firm's staff member or an expat who wrote in English is answered
in English, so each template has both texts; staff see the Vietnamese meaning of what they are
about to send, and edit it before sending.

Admins edit the templates in the panel (table `reply_templates`). `tiepdan seed` fills an empty
table from the shipped feedback/reply_templates.yaml, and until then the panel offers the file's.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import Invalid, NotFound
from core.text import is_code
from feedback.audit import record_audit
from feedback.models import ReplyTemplateEntry
from feedback.policy import require_admin

if TYPE_CHECKING:
    from feedback.auth import Principal
    from feedback.models import Ticket

TEMPLATES_FILE = Path(__file__).resolve().parent / "reply_templates.yaml"
ACTIONS = ("reply", "resolve")
PLACEHOLDERS = {"code", "agency"}


@dataclass(frozen=True)
class ReplyTemplate:
    id: str
    action: str  # the ticket action whose message it fills: "reply" or "resolve"
    title: str  # what staff see, in Vietnamese
    vi: str
    en: str

    def text(self, language: str, *, code: str, agency: str) -> str:
        """The template in the citizen's language ("vi" or "en"), filled in."""
        chosen = self.en if language == "en" else self.vi
        return chosen.format(code=code, agency=agency)


def fill(template: ReplyTemplate, ticket: Ticket, language: str) -> str:
    """The template for this ticket, in `language`: its code, and its agency's name (a general
    word for one while the ticket waits in triage)."""
    if ticket.agency is not None:
        agency = ticket.agency.name
    else:
        agency = "The responsible agency" if language == "en" else "Cơ quan chức năng"
    return template.text(language, code=ticket.code, agency=agency)


def problem(template: ReplyTemplate) -> str | None:
    """Why the template would fail to fill, or fill only one language (in Vietnamese, for the
    admin who wrote it); None when it is sound."""
    if template.action not in ACTIONS:
        return "Loại mẫu phải là “reply” (trả lời) hoặc “resolve” (kết quả xử lý)."
    for text in (template.vi, template.en):
        if not text.strip():
            return "Mẫu cần cả nội dung tiếng Việt và tiếng Anh."
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
        except ValueError:  # a lone "{" or "}"
            return "Dấu ngoặc nhọn phải đi thành cặp, như {code} hoặc {agency}."
        if not names <= PLACEHOLDERS:
            unknown = ", ".join("{" + name + "}" for name in sorted(names - PLACEHOLDERS))
            return (
                "Trong nội dung chỉ dùng được {code} (mã phản ánh) và {agency} (tên cơ quan), "
                f"không dùng được: {unknown}."
            )
    return None


@lru_cache
def load_templates(path: Path = TEMPLATES_FILE) -> tuple[ReplyTemplate, ...]:
    """The shipped templates; a broken one fails here, when the file loads."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    templates = tuple(
        ReplyTemplate(
            id=str(item["id"]),
            action=str(item["action"]),
            title=str(item["title"]),
            vi=str(item["vi"]),
            en=str(item["en"]),
        )
        for item in data.get("templates", [])
    )
    for template in templates:
        if (reason := problem(template)) is not None:
            raise ValueError(f"{path}: {template.id}: {reason}")
    if len({t.id for t in templates}) != len(templates):
        raise ValueError(f"{path}: two reply templates share an id")
    return templates


def templates(session: Session) -> tuple[ReplyTemplate, ...]:
    """The templates staff are offered: the active ones of the table, or, before `tiepdan seed`
    has filled it, the shipped file's."""
    rows = list_entries(session)
    if not rows:
        return load_templates()
    return tuple(_template(row) for row in rows if row.active)


def list_entries(session: Session) -> list[ReplyTemplateEntry]:
    """Every row, inactive ones included: the panel's list."""
    return list(
        session.scalars(
            select(ReplyTemplateEntry).order_by(ReplyTemplateEntry.position, ReplyTemplateEntry.id)
        )
    )


def save(
    session: Session,
    *,
    principal: Principal,
    template_id: str,
    action: str,
    title: str,
    vi: str,
    en: str,
    active: bool,
    ip: str | None = None,
) -> ReplyTemplateEntry:
    """Create or change a template. Both languages are required: an English-writing citizen
    must never be sent a Vietnamese template, nor a Vietnamese one an empty message."""
    require_admin(principal)
    template_id = template_id.strip()
    if not is_code(template_id):
        raise Invalid("Mã mẫu gồm chữ không dấu, số và dấu gạch dưới (ví dụ: da_tiep_nhan).")
    title, vi, en = title.strip(), vi.strip(), en.strip()
    if not title:
        raise Invalid("Tên mẫu không được để trống.")
    candidate = ReplyTemplate(id=template_id, action=action, title=title, vi=vi, en=en)
    if (reason := problem(candidate)) is not None:
        raise Invalid(reason)
    entry = session.get(ReplyTemplateEntry, template_id)
    audit_action = "reply_template.update" if entry else "reply_template.create"
    if entry is None:
        last = session.scalar(select(func.max(ReplyTemplateEntry.position)))
        entry = ReplyTemplateEntry(id=template_id, position=(last or 0) + 1)
        session.add(entry)
    entry.action, entry.title, entry.vi, entry.en = action, title, vi, en
    entry.active = active
    entry.updated_at = datetime.now(UTC)
    record_audit(session, actor=principal, action=audit_action, target=template_id, ip=ip)
    session.flush()
    return entry


def delete(
    session: Session, *, principal: Principal, template_id: str, ip: str | None = None
) -> None:
    require_admin(principal)
    entry = session.get(ReplyTemplateEntry, template_id)
    if entry is None:
        raise NotFound("Không có mẫu trả lời này.")
    record_audit(
        session,
        actor=principal,
        action="reply_template.delete",
        target=template_id,
        detail={"title": entry.title},
        ip=ip,
    )
    session.delete(entry)
    session.flush()


def seed(session: Session, *, path: Path = TEMPLATES_FILE) -> int:
    """Copy the shipped templates into an empty table (`tiepdan seed`); a table that has rows
    is the admins' and is left alone. Returns how many were copied."""
    if session.scalar(select(ReplyTemplateEntry.id).limit(1)) is not None:
        return 0
    shipped = load_templates(path)
    for position, template in enumerate(shipped):
        session.add(
            ReplyTemplateEntry(
                id=template.id,
                action=template.action,
                title=template.title,
                vi=template.vi,
                en=template.en,
                position=position,
                active=True,
            )
        )
    session.flush()
    return len(shipped)


def _template(row: ReplyTemplateEntry) -> ReplyTemplate:
    return ReplyTemplate(id=row.id, action=row.action, title=row.title, vi=row.vi, en=row.en)
