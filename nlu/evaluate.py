"""Measure the NLU on held-out data: categories, wards, duplicates and the FAQ.

Each function returns plain numbers and a printable report; `tiepdan nlu evaluate` prints them
and `make bench-nlu` writes them to bench/results/nlu.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nlu import dataset
from nlu.dataset import Example
from nlu.duplicates import DuplicateFinder
from nlu.faq import FaqIndex
from nlu.normalize import has_diacritics, strip_diacritics
from nlu.pipeline import NLU
from nlu.wards import extract_ward


@dataclass
class CategoryReport:
    labels: list[str]
    precision: dict[str, float]
    recall: dict[str, float]
    f1: dict[str, float]
    support: dict[str, int]
    macro_f1: float
    macro_f1_without_diacritics: float  # on the messages that were written without them
    accuracy: float
    confusion: list[list[int]]
    threshold: float
    below_threshold: int = 0
    accuracy_above_threshold: float = 0.0
    examples: int = 0
    calibration_error: float = 0.0
    thresholds: list[tuple[float, int, float]] = field(default_factory=list)
    # source (a test set's genre) → (messages, accuracy, macro-F1), when there are several.
    by_source: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    # Every message again with its diacritics removed: the loss that missing diacritics alone
    # cause, on the same messages (the figure above mixes it with who writes without them).
    macro_f1_diacritics_removed: float = 0.0
    # "short" (SHORT_WORDS or fewer) and "long" → (messages, accuracy, macro-F1, sent to triage,
    # accuracy of the rest): phone-typed one-liners must do as well as long letters.
    by_length: dict[str, tuple[int, float, float, int, float]] = field(default_factory=dict)

    def render(self) -> str:
        width = max(len(label) for label in self.labels)
        lines = [f"{'category':<{width}}  precision  recall     f1  support"]
        for label in self.labels:
            lines.append(
                f"{label:<{width}}  {self.precision[label]:9.3f}  {self.recall[label]:6.3f}"
                f"  {self.f1[label]:5.3f}  {self.support[label]:7d}"
            )
        lines += [
            "",
            f"macro-F1 {self.macro_f1:.3f} (without diacritics: "
            f"{self.macro_f1_without_diacritics:.3f}), accuracy {self.accuracy:.3f}, "
            f"{self.examples} messages",
            f"the same messages with their diacritics removed: macro-F1 "
            f"{self.macro_f1_diacritics_removed:.3f} (a loss of "
            f"{self.macro_f1 - self.macro_f1_diacritics_removed:.3f})",
            f"triage threshold {self.threshold:.2f}: {self.below_threshold} of {self.examples} "
            f"({self.below_threshold / max(1, self.examples):.1%}) go to triage; "
            f"accuracy of the rest {self.accuracy_above_threshold:.3f}",
            f"calibration: expected calibration error {self.calibration_error:.3f} "
            "(10 bins; 0 means a confidence of 0.8 is right 80% of the time)",
            "threshold  to triage  accuracy of the rest",
            *[
                f"{t:9.2f}  {n:4d} ({n / max(1, self.examples):4.0%})  {a:14.3f}"
                for t, n, a in self.thresholds
            ],
            "",
            *(["by genre: messages, accuracy, macro-F1"] if self.by_source else []),
            *[
                f"  {source:<12} {n:4d}  {accuracy:.3f}  {f1:.3f}"
                for source, (n, accuracy, f1) in sorted(self.by_source.items())
            ],
            *([""] if self.by_source else []),
            f"by length (short: {SHORT_WORDS} words or fewer): messages, accuracy, macro-F1, "
            "to triage, accuracy of the rest",
            *[
                f"  {length:<12} {n:4d}  {accuracy:.3f}  {f1:.3f}  {triaged:4d} "
                f"({triaged / max(1, n):4.0%})  {routed_accuracy:.3f}"
                for length, (n, accuracy, f1, triaged, routed_accuracy) in self.by_length.items()
            ],
            "",
            "confusion matrix (rows: true, columns: predicted, in the order above)",
        ]
        short = [label[:6] for label in self.labels]
        lines.append(" " * (width + 2) + " ".join(f"{s:>6}" for s in short))
        for label, row in zip(self.labels, self.confusion, strict=True):
            lines.append(f"{label:<{width}}  " + " ".join(f"{n:>6}" for n in row))
        return "\n".join(lines)


def evaluate_categories(nlu: NLU, examples: Sequence[Example], threshold: float) -> CategoryReport:
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    texts = [e.text for e in examples]
    truth = [e.category for e in examples]
    predictions = nlu.category.predict_many(texts)
    predicted = [p.category for p in predictions]
    stripped = [p.category for p in nlu.category.predict_many([strip_diacritics(t) for t in texts])]
    labels = [c for c in dataset.categories() if c in set(truth) | set(predicted)]
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    plain = [i for i, t in enumerate(texts) if not has_diacritics(t)]
    confident = [i for i, p in enumerate(predictions) if p.confidence >= threshold]
    return CategoryReport(
        labels=labels,
        precision=dict(zip(labels, map(float, precision), strict=True)),
        recall=dict(zip(labels, map(float, recall), strict=True)),
        f1=dict(zip(labels, map(float, f1), strict=True)),
        support=dict(zip(labels, map(int, support), strict=True)),
        macro_f1=float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)),
        macro_f1_diacritics_removed=float(
            f1_score(truth, stripped, labels=labels, average="macro", zero_division=0)
        ),
        macro_f1_without_diacritics=float(
            f1_score(
                [truth[i] for i in plain],
                [predicted[i] for i in plain],
                labels=labels,
                average="macro",
                zero_division=0,
            )
        )
        if plain
        else 0.0,
        accuracy=float(np.mean([a == b for a, b in zip(truth, predicted, strict=True)])),
        confusion=confusion_matrix(truth, predicted, labels=labels).tolist(),
        threshold=threshold,
        below_threshold=len(examples) - len(confident),
        accuracy_above_threshold=float(np.mean([truth[i] == predicted[i] for i in confident]))
        if confident
        else 0.0,
        examples=len(examples),
        thresholds=[
            _at_threshold(t, truth, predicted, predictions)
            for t in sorted({*THRESHOLDS, round(threshold, 2)})
        ],
        by_source=_by_source(examples, predicted, labels),
        by_length=_by_length(examples, predictions, labels, threshold),
        calibration_error=expected_calibration_error(
            [p.confidence for p in predictions],
            [a == b for a, b in zip(truth, predicted, strict=True)],
        ),
    )


THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)


def _by_source(
    examples: Sequence[Example], predicted: list[str], labels: list[str]
) -> dict[str, tuple[int, float, float]]:

    sources = sorted({e.source for e in examples})
    if len(sources) < 2:
        return {}
    result = {}
    for source in sources:
        rows = [i for i, e in enumerate(examples) if e.source == source]
        truth = [examples[i].category for i in rows]
        result[source] = (len(rows), *_accuracy_and_f1(truth, [predicted[i] for i in rows], labels))
    return result


def _accuracy_and_f1(truth: list[str], guess: list[str], labels: list[str]) -> tuple[float, float]:
    """Accuracy, and macro-F1 over the labels that occur in this part of a set."""
    from sklearn.metrics import f1_score

    present = [c for c in labels if c in set(truth) | set(guess)]
    return (
        float(np.mean([a == b for a, b in zip(truth, guess, strict=True)])),
        float(f1_score(truth, guess, labels=present, average="macro", zero_division=0)),
    )


# The "short message": 3–12 words, typed on a phone.
SHORT_WORDS = 12


def is_short(text: str) -> bool:
    return len(text.split()) <= SHORT_WORDS


def _by_length(
    examples: Sequence[Example],
    predictions: Sequence[Any],
    labels: list[str],
    threshold: float,
) -> dict[str, tuple[int, float, float, int, float]]:

    result = {}
    for length in ("short", "long"):
        rows = [i for i, e in enumerate(examples) if is_short(e.text) == (length == "short")]
        if not rows:
            continue
        truth = [examples[i].category for i in rows]
        guess = [predictions[i].category for i in rows]
        routed = [j for j, i in enumerate(rows) if predictions[i].confidence >= threshold]
        result[length] = (
            len(rows),
            *_accuracy_and_f1(truth, guess, labels),
            len(rows) - len(routed),
            float(np.mean([truth[j] == guess[j] for j in routed])) if routed else 0.0,
        )
    return result


def _at_threshold(
    threshold: float, truth: list[str], predicted: list[str], predictions: Sequence[Any]
) -> tuple[float, int, float]:
    """(threshold, messages sent to triage, accuracy of the messages routed)."""
    routed = [i for i, p in enumerate(predictions) if p.confidence >= threshold]
    right = sum(1 for i in routed if truth[i] == predicted[i])
    return threshold, len(predictions) - len(routed), right / max(1, len(routed))


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool]) -> float:
    """The gap between confidence and accuracy, averaged over 10 confidence bins by size."""
    conf = np.asarray(confidences, dtype=float)
    right = np.asarray(correct, dtype=float)
    bins = np.minimum((conf * 10).astype(int), 9)
    error = 0.0
    for b in range(10):
        members = bins == b
        if members.any():
            error += members.mean() * abs(conf[members].mean() - right[members].mean())
    return float(error)


@dataclass
class WardReport:
    messages: int
    true_positive: int
    false_positive: int
    false_negative: int
    errors: list[tuple[str, object, object]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.true_positive / max(1, self.true_positive + self.false_positive)

    @property
    def recall(self) -> float:
        return self.true_positive / max(1, self.true_positive + self.false_negative)

    def render(self) -> str:
        lines = [
            f"wards: precision {self.precision:.3f}, recall {self.recall:.3f} on {self.messages} "
            f"messages ({self.true_positive} found, {self.false_positive} wrong, "
            f"{self.false_negative} missed)"
        ]
        lines += [f"  {text[:90]!r}: expected {want}, got {got}" for text, want, got in self.errors]
        return "\n".join(lines)


def evaluate_wards(path: Path = dataset.DATA_DIR / "wards" / "test.jsonl") -> WardReport:
    """A split ward counts as found when the candidates are exactly the expected ones."""
    report = WardReport(messages=0, true_positive=0, false_positive=0, false_negative=0)
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        report.messages += 1
        want = row["ward"] or (tuple(sorted(row["candidates"])) if row["candidates"] else None)
        match = extract_ward(row["text"])
        got = None if match is None else (match.code or tuple(c.code for c in match.candidates))
        if want is None and got is None:
            continue
        if got is not None and got == want:
            report.true_positive += 1
            continue
        report.false_positive += got is not None
        report.false_negative += want is not None
        report.errors.append((row["text"], want, got))
    return report


@dataclass
class ThresholdReport:
    name: str
    threshold: float
    rows: list[tuple[float, float, float, float]]  # threshold, precision, recall, accuracy

    def render(self) -> str:
        lines = [
            f"{self.name}: threshold in use {self.threshold:.2f}",
            "threshold  precision  recall  accuracy",
        ]
        lines += [f"{t:9.2f}  {p:9.3f}  {r:6.3f}  {a:8.3f}" for t, p, r, a in self.rows]
        return "\n".join(lines)


def evaluate_duplicates(
    finder: DuplicateFinder, path: Path = dataset.DATA_DIR / "duplicates.jsonl"
) -> ThresholdReport:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    scores = finder.similarity.pairwise([r["a"] for r in rows], [r["b"] for r in rows])
    truth = np.array([bool(r["duplicate"]) for r in rows])
    table = []
    for threshold in np.arange(0.30, 0.80, 0.04):
        flagged = scores >= threshold
        tp = int((flagged & truth).sum())
        table.append(
            (
                float(threshold),
                tp / max(1, int(flagged.sum())),
                tp / max(1, int(truth.sum())),
                float((flagged == truth).mean()),
            )
        )
    return ThresholdReport("duplicates (nlu/data/duplicates.jsonl)", finder.threshold, table)


@dataclass
class FaqReport:
    """The FAQ search on labelled questions (`faq`: the entry that answers it, or null)."""

    name: str
    threshold: float
    named_threshold: float
    margin: float
    questions: int
    answerable: int
    answered: int  # answers given, right or wrong
    right: int
    answered_answerable: int  # answers given to questions that have one
    wrong: list[tuple[str, str | None, str]] = field(default_factory=list)
    # threshold, precision, coverage, accuracy: the rule in use with another THRESHOLD
    rows: list[tuple[float, float, float, float]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        """Of the answers given, the share that are right."""
        return self.right / max(1, self.answered)

    @property
    def coverage(self) -> float:
        """Of the questions that have an answer, the share that get one."""
        return self.answered_answerable / max(1, self.answerable)

    @property
    def abstained(self) -> int:
        return self.questions - self.answered

    def render(self) -> str:
        unanswerable = self.questions - self.answerable
        lines = [
            f"{self.name}: {self.questions} questions, {self.answerable} with an answer",
            f"threshold {self.threshold:.2f} ({self.named_threshold:.2f} when the question and "
            f"the entry name the same subject), margin {self.margin:.2f}",
            f"answers given {self.answered}, right {self.right}: precision {self.precision:.3f}",
            f"coverage {self.coverage:.3f} ({self.answered_answerable} of {self.answerable} "
            f"answerable questions answered, {self.right} of them right)",
            f"abstained {self.abstained}: {self.answerable - self.answered_answerable} answerable, "
            f"{unanswerable - (self.answered - self.answered_answerable)} of {unanswerable} "
            "without an answer",
        ]
        lines += [
            f"  wrong: {text[:80]!r}: expected {want}, got {got}" for text, want, got in self.wrong
        ]
        lines += ["threshold  precision  coverage  accuracy"]
        lines += [f"{t:9.2f}  {p:9.3f}  {c:8.3f}  {a:8.3f}" for t, p, c, a in self.rows]
        return "\n".join(lines)


def evaluate_faq(index: FaqIndex, path: Path = dataset.DATA_DIR / "faq_test.jsonl") -> FaqReport:
    """Precision of the answers given, coverage of the answerable questions, abstentions; and
    the same with other thresholds (margin and subjects as in use)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    ranked = [index.ranked(r["text"]) for r in rows]  # scored once, then decided at each setting
    expected = [r["faq"] for r in rows]

    def answers(threshold: float | None) -> list[str | None]:
        decided = [index.decide(c, threshold=threshold) for c in ranked]
        return [a.id if a is not None else None for a in decided]

    got = answers(None)
    report = FaqReport(
        name=f"FAQ ({path.name})",
        threshold=index.threshold,
        named_threshold=index.named_threshold,
        margin=index.margin,
        questions=len(rows),
        answerable=sum(1 for want in expected if want),
        answered=sum(1 for a in got if a is not None),
        right=sum(1 for a, want in zip(got, expected, strict=True) if a is not None and a == want),
        answered_answerable=sum(
            1 for a, want in zip(got, expected, strict=True) if a is not None and want
        ),
        wrong=[
            (r["text"], want, a)
            for r, a, want in zip(rows, got, expected, strict=True)
            if a is not None and a != want
        ],
    )
    for threshold in np.arange(0.34, 0.64, 0.03):
        pairs = list(zip(answers(float(threshold)), expected, strict=True))
        answered = [(a, want) for a, want in pairs if a is not None]
        right = sum(1 for a, want in answered if a == want)
        report.rows.append(
            (
                float(threshold),
                right / max(1, len(answered)),
                sum(1 for _, want in answered if want) / max(1, report.answerable),
                sum(1 for a, want in pairs if a == want) / len(rows),
            )
        )
    return report
