"""The report's split by length: short (12 words or fewer) and long messages counted apart."""

from __future__ import annotations

from types import SimpleNamespace

from nlu.category import CategoryPrediction
from nlu.dataset import Example
from nlu.evaluate import evaluate_categories
from nlu.normalize import strip_diacritics


class _Fixed:
    """A category model that answers from a table, so the arithmetic can be checked. The
    report reads every message again without diacritics, so the table is keyed without them."""

    def __init__(self, answers: dict[str, tuple[str, float]]) -> None:
        self.answers = {strip_diacritics(text): answer for text, answer in answers.items()}

    def predict_many(self, texts):
        return [
            CategoryPrediction(category, confidence, {category: confidence})
            for category, confidence in (self.answers[strip_diacritics(t)] for t in texts)
        ]


def test_short_and_long_messages_are_reported_apart():
    long_text = "Kính gửi UBND phường, " + "đường trước nhà tôi có ổ gà rất lớn " * 3
    nlu = SimpleNamespace(
        category=_Fixed(
            {
                "ổ gà đầu hẻm 12": ("ha_tang_do_thi", 0.95),
                "cup dien tu sang": ("ha_tang_do_thi", 0.60),  # wrong, and unsure
                "mất nước 2 ngày rồi": ("dien_nuoc", 0.90),
                long_text: ("ha_tang_do_thi", 0.99),
            }
        )
    )
    examples = [
        Example("ổ gà đầu hẻm 12", "ha_tang_do_thi"),
        Example("cup dien tu sang", "dien_nuoc"),
        Example("mất nước 2 ngày rồi", "dien_nuoc"),
        Example(long_text, "ha_tang_do_thi"),
    ]
    report = evaluate_categories(nlu, examples, threshold=0.8)  # type: ignore[arg-type]

    messages, accuracy, _, triaged, routed_accuracy = report.by_length["short"]
    assert (messages, triaged) == (3, 1)
    assert accuracy == 2 / 3
    assert routed_accuracy == 1.0  # the wrong answer was below the threshold
    assert report.by_length["long"][:2] == (1, 1.0)
    assert "by length (short: 12 words or fewer)" in report.render()
