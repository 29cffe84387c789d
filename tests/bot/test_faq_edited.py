"""The bot answers from the FAQ staff edit in the panel once the table holds entries."""

from __future__ import annotations

from feedback import configuration
from feedback.auth import Principal
from feedback.models import StaffRole

ADMIN = Principal(kind="staff", role=StaffRole.ADMIN, user_id=None, username="faq-admin")


def test_an_entry_added_in_the_panel_answers_the_bot(
    client, db_session, service_headers, nlu_model
):
    assert configuration.seed_faq(db_session) > 10
    configuration.save_faq(
        db_session,
        principal=ADMIN,
        entry_id="gio_tiep_dan",
        question="Trụ sở tiếp công dân làm việc giờ nào?",
        answer="Trụ sở tiếp công dân làm việc từ 7 giờ 30 đến 17 giờ, thứ Hai đến thứ Sáu.",
        alternatives=["mấy giờ tiếp công dân", "gio lam viec tru so tiep dan"],
        active=True,
    )
    db_session.commit()

    found = client.get(
        "/api/v1/bot/faq",
        params={"q": "tru so tiep cong dan lam viec may gio"},
        headers=service_headers,
    ).json()

    assert found["id"] == "gio_tiep_dan"
    configuration.save_faq(
        db_session,
        principal=ADMIN,
        entry_id="gio_tiep_dan",
        question="Trụ sở tiếp công dân làm việc giờ nào?",
        answer="x",
        alternatives=[],
        active=False,
    )
    db_session.commit()
    gone = client.get(
        "/api/v1/bot/faq",
        params={"q": "tru so tiep cong dan lam viec may gio"},
        headers=service_headers,
    ).json()
    assert gone["id"] != "gio_tiep_dan"
