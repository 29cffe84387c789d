"""The Rasa project (bot/rasa/) checked as CI must: its data validates, its story tests pass
with `--fail-on-prediction-errors`, its actions pass their unit tests (bot/rasa/tests/actions),
and its intents reach macro-F1 0.92 on both held-out sets, and 0.93 in chat teen-code.

These run Rasa in its own Python 3.10 environment (`make rasa-venv`), on the model cached by
the hash of the project (`tiepdan bot train`).
"""

from __future__ import annotations

from types import ModuleType

import pytest

from bot import assistant
from tests.bot.rasa_project import load_rasa_module


@pytest.fixture(scope="module")
def trained() -> None:
    assistant.train()


def test_the_data_validates_and_the_story_and_action_tests_pass(trained: None) -> None:
    assert assistant.run_checks() == 0


def test_intents_reach_the_target_on_the_held_out_set(trained: None) -> None:
    report = assistant.evaluate()

    intents = {k: v for k, v in report.items() if isinstance(v, dict) and "support" in v}
    assert report["macro avg"]["f1-score"] >= 0.92  # issue 14: 0.940 measured on 2026-12-04
    assert all(row["support"] >= 20 for name, row in intents.items() if "avg" not in name)


def test_intents_typed_in_teen_code_reach_the_target(trained: None) -> None:
    # A tuning set (bot/rasa/tune/teencode.yml): 0.908 before the teen-code training examples,
    # 0.951 after (2026-12-04), 1.000 with the later writers' (2026-12-05). It flatters the
    # model; this guards against losing what it found.
    report = assistant.evaluate(test_set=assistant.TEEN_CODE)

    assert report["macro avg"]["f1-score"] >= 0.93
    assert report["macro avg"]["support"] == 144


def test_intents_reach_the_target_on_the_second_held_out_set(trained: None) -> None:
    # bot/rasa/tests/nlu_second, written apart on 2026-12-05: 0.885, then 0.953 with the later
    # writers' examples (data/nlu/writers.yml; bot/rasa/README.md). The tuning set by another
    # later writer: 0.894, then 0.966.
    second = assistant.evaluate(test_set=assistant.SECOND_HELD_OUT)
    tuning = assistant.evaluate(test_set=assistant.WRITERS_TUNE)

    assert second["macro avg"]["f1-score"] >= 0.92
    assert second["macro avg"]["support"] == 184
    assert tuning["macro avg"]["f1-score"] >= 0.94


def test_a_second_training_of_the_same_data_is_skipped(trained: None) -> None:
    said: list[str] = []

    assistant.train(say=said.append)

    assert said == [f"Rasa model is up to date: {assistant.model_path()}"]


def _actions_text() -> ModuleType:
    """bot/rasa/actions/text.py: plain Python, importable here without rasa-sdk."""
    return load_rasa_module("actions/text.py")


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("PA7K3M9QXT tới đâu rồi", "PA7K3M9QXT"),
        ("tra cứu pa-7k3m-9qxt", "PA7K3M9QXT"),
        ("mã PA 7K3M 9QXT", "PA7K3M9QXT"),
        ("phản ánh của tôi", None),
        ("PA7K3M9QXTZ", None),  # nine characters: not a code
    ],
)
def test_ticket_codes_as_people_type_them(typed: str, code: str | None) -> None:
    assert _actions_text().ticket_code(typed) == code


def test_phone_tax_code_and_score_readers() -> None:
    text = _actions_text()

    assert text.phone_number("sđt 0912 345 678 nhé") == "0912345678"
    assert text.phone_number("+84 912345678") == "0912345678"
    assert text.phone_number("12345") is None
    assert text.tax_code("0312345673") == "0312345673"
    assert text.tax_code("0312345673-001") == "0312345673001"
    assert text.tax_code("031234567") is None
    assert text.tax_code("0312345678") is None  # the check digit is 3
    assert text.score("4 sao") == 4 and text.score("rất hài lòng") == 5
    assert text.score("⭐⭐⭐⭐⭐") == 5 and text.score("★★★☆☆ tạm được") == 3
    assert text.score("5⭐") == 5 and text.score("⭐" * 7) is None
    assert text.says_not_fixed("báo xong mà vẫn chưa sửa") is True
    assert text.mentions_business("Cty chúng tôi ở KCN VSIP") is True
