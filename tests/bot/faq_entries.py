"""An FAQ entry staff add in the panel, for the bot's FAQ tests."""

from __future__ import annotations

from sqlalchemy.orm import Session

from feedback import configuration
from feedback.auth import Principal
from feedback.models import StaffRole

ADMIN = Principal(kind="staff", role=StaffRole.ADMIN, user_id=None, username="faq-admin")
QUESTION = "Trụ sở tiếp công dân làm việc giờ nào?"
ANSWER = "Trụ sở tiếp công dân làm việc từ 7 giờ 30 đến 17 giờ, thứ Hai đến thứ Sáu."


def save_reception_hours(
    session: Session,
    *,
    answer: str = ANSWER,
    answer_en: str = "",
    alternatives: tuple[str, ...] = ("mấy giờ tiếp công dân", "gio lam viec tru so tiep dan"),
    active: bool = True,
) -> None:
    """The entry "gio_tiep_dan", saved as an admin would in the panel, and committed."""
    configuration.save_faq(
        session,
        principal=ADMIN,
        entry_id="gio_tiep_dan",
        question=QUESTION,
        answer=answer,
        answer_en=answer_en,
        alternatives=list(alternatives),
        active=active,
    )
    session.commit()
