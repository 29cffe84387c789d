"""Reply templates: every one fills in both languages; a broken one fails at load or is refused
in the panel; admins' templates replace the shipped ones once the table has any."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from core.errors import Forbidden, Invalid
from feedback import reply_templates
from feedback.auth import Principal
from feedback.models import AuditEntry, ReplyTemplateEntry, StaffRole

ADMIN = Principal(kind="staff", role=StaffRole.ADMIN, user_id=None, username="templates-admin")
DISPATCHER = Principal(kind="staff", role=StaffRole.DISPATCHER, user_id=None, username="d")


def test_every_template_fills_in_vietnamese_and_in_english():
    templates = reply_templates.load_templates()

    assert {t.action for t in templates} == {"reply", "resolve"}
    for template in templates:
        vi = template.text("vi", code="PA7K3M9QXT", agency="UBND phường Bến Thành")
        en = template.text("en", code="PA7K3M9QXT", agency="UBND phường Bến Thành")
        assert "PA7K3M9QXT" in vi and "PA7K3M9QXT" in en and vi != en
        assert "{" not in vi + en


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("action: close\n    vi: a\n    en: b", "Loại mẫu phải là"),
        ("action: reply\n    vi: a\n    en: ''", "cả nội dung tiếng Việt và tiếng Anh"),
        ("action: reply\n    vi: 'Gửi {name}'\n    en: b", r"không dùng được: \{name\}"),
        ("action: reply\n    vi: 'Mã {code'\n    en: b", "phải đi thành cặp"),
    ],
)
def test_a_broken_template_fails_at_load(tmp_path: Path, body: str, reason: str):
    path = tmp_path / "templates.yaml"
    path.write_text(f"templates:\n  - id: x\n    title: X\n    {body}\n", encoding="utf-8")

    with pytest.raises(ValueError, match=reason):
        reply_templates.load_templates(path)


def test_the_shipped_templates_are_offered_until_the_table_has_any(db_session):
    shipped = reply_templates.load_templates()
    assert reply_templates.templates(db_session) == shipped

    assert reply_templates.seed(db_session) == len(shipped)
    assert reply_templates.templates(db_session) == shipped  # same texts, same order
    assert reply_templates.seed(db_session) == 0  # the admins' table is left alone


def _save(session, template_id: str, title: str, vi: str, en: str, *, active: bool = True):
    return reply_templates.save(
        session,
        principal=ADMIN,
        template_id=template_id,
        action="reply",
        title=title,
        vi=vi,
        en=en,
        active=active,
    )


def test_an_admin_edits_adds_switches_off_and_deletes_templates(db_session):
    reply_templates.seed(db_session)

    _save(
        db_session,
        "da_tiep_nhan",
        "Đã tiếp nhận",
        "{agency} đã nhận phản ánh {code}, sẽ trả lời trong 2 ngày làm việc.",
        "{agency} has received report {code} and will answer within 2 working days.",
    )
    _save(
        db_session,
        "hen_lich",
        "Hẹn lịch làm việc",
        "Mời bạn đến {agency} để làm việc về phản ánh {code}.",
        "Please come to {agency} about report {code}.",
    )
    _save(db_session, "da_cu_can_bo", "Đã cử cán bộ kiểm tra", "x {code}", "y {code}", active=False)
    reply_templates.delete(db_session, principal=ADMIN, template_id="can_them_thoi_gian")

    offered = {t.id: t for t in reply_templates.templates(db_session)}
    assert "trong 2 ngày làm việc" in offered["da_tiep_nhan"].vi
    assert list(offered)[-1] == "hen_lich"  # a new template comes last
    assert "da_cu_can_bo" not in offered and "can_them_thoi_gian" not in offered
    assert len(reply_templates.list_entries(db_session)) == len(reply_templates.load_templates())
    actions = set(
        db_session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("reply_template.%"))
        )
    )
    assert actions == {"reply_template.update", "reply_template.create", "reply_template.delete"}


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"template_id": "có dấu"}, "Mã mẫu"),
        ({"template_id": "códấu"}, "Mã mẫu"),
        ({"title": "  "}, "Tên mẫu"),
        ({"action": "close"}, "Loại mẫu"),
        ({"en": " "}, "tiếng Anh"),
        ({"vi": "Chào {name}, mã {code}"}, r"\{name\}"),
    ],
)
def test_a_template_that_would_fail_to_fill_is_refused(db_session, fields, reason):
    valid = {
        "template_id": "moi",
        "action": "resolve",
        "title": "Mới",
        "vi": "Phản ánh {code} đã xong.",
        "en": "Report {code} is done.",
    }

    with pytest.raises(Invalid, match=reason):
        reply_templates.save(db_session, principal=ADMIN, active=True, **{**valid, **fields})
    assert db_session.get(ReplyTemplateEntry, valid["template_id"]) is None


def test_only_admins_change_templates(db_session):
    with pytest.raises(Forbidden):
        reply_templates.save(
            db_session,
            principal=DISPATCHER,
            template_id="moi",
            action="reply",
            title="Mới",
            vi="a {code}",
            en="b {code}",
            active=True,
        )
