"""Firms' staff and expats who ask in English get the FAQ's English answer, or staff."""

from __future__ import annotations

from feedback import configuration
from feedback.models import FaqEntry
from nlu.faq import load_entries
from tests.bot.faq_entries import save_reception_hours


def _ask(client, service_headers, question, **params):
    return client.get(
        "/api/v1/bot/faq", params={"q": question, **params}, headers=service_headers
    ).json()


def test_an_english_question_gets_the_english_answer(client, service_headers, nlu_model):
    found = _ask(client, service_headers, "how can i register the birth of my baby?")

    shipped = {e.id: e for e in load_entries()}["dang_ky_khai_sinh"]
    assert found["id"] == "dang_ky_khai_sinh" and found["language"] == "en"
    assert found["answer"] == shipped.answer_en


def test_the_same_question_in_vietnamese_gets_the_vietnamese_answer(
    client, service_headers, nlu_model
):
    found = _ask(client, service_headers, "đăng ký khai sinh cho con cần giấy tờ gì")

    assert found["id"] == "dang_ky_khai_sinh" and found["language"] == "vi"
    assert found["answer"] == {e.id: e for e in load_entries()}["dang_ky_khai_sinh"].answer


def test_the_conversations_language_chooses_the_answers(client, service_headers, nlu_model):
    found = _ask(client, service_headers, "dang ky khai sinh", language="en")

    shipped = {e.id: e for e in load_entries()}["dang_ky_khai_sinh"]
    assert found["language"] == "en" and found["answer"] == shipped.answer_en


def test_a_foreigners_residence_card_is_not_the_wards_residence_registration(
    client, service_headers, nlu_model
):
    for question in (
        "How to renew the temporary residence card for our Korean director?",
        "how to get a work permit for a foreign engineer",
        "visa extension for my family",
    ):
        assert _ask(client, service_headers, question)["answer"] is None, question


def test_an_entry_without_an_english_answer_leaves_the_english_question_to_staff(
    client, db_session, service_headers, nlu_model
):
    configuration.seed_faq(db_session)
    english = ("mấy giờ tiếp công dân", "citizen reception office opening hours")
    save_reception_hours(db_session, alternatives=english)

    asked = _ask(client, service_headers, "citizen reception office opening hours?")
    assert asked["answer"] is None and asked["language"] == "en"

    hours = "The citizen reception office is open 7:30 to 17:00, Monday to Friday."
    save_reception_hours(db_session, alternatives=english, answer_en=hours)
    asked = _ask(client, service_headers, "citizen reception office opening hours?")
    assert asked["id"] == "gio_tiep_dan" and asked["answer"] == hours


def test_seeding_again_gives_unedited_entries_the_english_answer(db_session):
    configuration.seed_faq(db_session)
    birth = db_session.get(FaqEntry, "dang_ky_khai_sinh")
    marriage = db_session.get(FaqEntry, "dang_ky_ket_hon")
    # As a table seeded before English answers: none, and no English phrasings.
    for entry in (birth, marriage):
        entry.answer_en = ""
        entry.alternatives = [a for a in entry.alternatives if not a.isascii()]
    marriage.answer = "Câu trả lời cán bộ đã viết lại."
    db_session.flush()

    assert configuration.seed_faq(db_session) == 1

    shipped = {e.id: e for e in load_entries()}
    assert birth.answer_en == shipped["dang_ky_khai_sinh"].answer_en
    assert any("birth" in a for a in birth.alternatives)
    assert marriage.answer_en == ""  # staff rewrote it: the shipped translation may not fit
    assert configuration.seed_faq(db_session) == 0
