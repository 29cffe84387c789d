"""The bot answers from the FAQ staff edit in the panel once the table holds entries."""

from __future__ import annotations

from feedback import configuration
from tests.bot.faq_entries import save_reception_hours


def test_an_entry_added_in_the_panel_answers_the_bot(
    client, db_session, service_headers, nlu_model
):
    assert configuration.seed_faq(db_session) > 10
    save_reception_hours(db_session)

    found = client.get(
        "/api/v1/bot/faq",
        params={"q": "tru so tiep cong dan lam viec may gio"},
        headers=service_headers,
    ).json()

    assert found["id"] == "gio_tiep_dan"
    save_reception_hours(db_session, answer="x", alternatives=(), active=False)
    gone = client.get(
        "/api/v1/bot/faq",
        params={"q": "tru so tiep cong dan lam viec may gio"},
        headers=service_headers,
    ).json()
    assert gone["id"] != "gio_tiep_dan"
