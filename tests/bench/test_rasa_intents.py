"""The Rasa intent report's confusion matrix, from Rasa's report and its list of errors."""

from __future__ import annotations

from bench.rasa_intents import confusion, render, render_set

REPORT = {
    "greet": {"precision": 0.9, "recall": 0.8, "f1-score": 0.85, "support": 10},
    "goodbye": {"precision": 0.8, "recall": 0.9, "f1-score": 0.85, "support": 10},
    "ask_info": {"precision": 1.0, "recall": 0.9, "f1-score": 0.95, "support": 10},
    "accuracy": 0.87,
    "macro avg": {"precision": 0.9, "recall": 0.87, "f1-score": 0.88, "support": 30},
    "weighted avg": {"precision": 0.9, "recall": 0.87, "f1-score": 0.88, "support": 30},
}
ERRORS = [
    {"text": "chào nhé", "intent": "greet", "intent_prediction": {"name": "goodbye"}},
    {"text": "hi bye", "intent": "greet", "intent_prediction": {"name": "goodbye"}},
    {"text": "giờ mở cửa", "intent": "ask_info", "intent_prediction": {"name": "out_of_scope"}},
    {"text": "tạm biệt", "intent": "goodbye", "intent_prediction": {"name": "greet"}},
]


def test_each_row_adds_up_to_the_intents_support() -> None:
    matrix = confusion(REPORT, ERRORS)

    assert set(matrix) == {"greet", "goodbye", "ask_info"}
    assert matrix["greet"] == {"greet": 8, "goodbye": 2}
    assert matrix["ask_info"] == {"ask_info": 9, "out_of_scope": 1}
    assert all(sum(row.values()) == 10 for row in matrix.values())


def test_the_report_names_the_figures_and_the_predicted_only_intents() -> None:
    text = render(REPORT, ERRORS, model="tiepdan-x.tar.gz")

    assert "Macro-F1 **0.880**" in text and "30 messages, 4 wrong" in text
    assert "| greet | 0.900 | 0.800 | 0.850 | 10 |" in text
    assert "out_of" in text  # a column for an intent only ever predicted


def test_each_further_set_has_its_own_section_with_its_figures() -> None:
    text = render_set(REPORT, "Chat teen-code (a tuning set)", "Its figures flatter the model.")

    assert text.startswith("\n## Chat teen-code") and "flatter the model" in text
    assert "Macro-F1 **0.880**" in text and "30 messages" in text
    assert "| ask_info | 1.000 | 0.900 | 0.950 | 10 |" in text
    assert "accuracy" not in text and "| macro avg" not in text
