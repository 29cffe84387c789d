"""Answers to common questions, from the question-and-answer pairs staff maintain (nlu/faq.yaml).

A question is compared with every entry's question and its alternative phrasings; the best
entry answers if it is similar enough. Below the threshold the answer is "I don't know", and
the bot offers a person instead: a wrong answer costs more than none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from nlu.similarity import Similarity

DEFAULT_FAQ_FILE = Path(__file__).resolve().parent / "faq.yaml"
# Tuned on nlu/data/faq_test.jsonl (nlu/README.md).
NGRAM_WEIGHT = 0.6
THRESHOLD = 0.42


@dataclass(frozen=True)
class FaqEntry:
    id: str
    question: str
    answer: str
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class FaqAnswer:
    id: str
    question: str
    answer: str
    score: float


def load_entries(path: Path = DEFAULT_FAQ_FILE) -> list[FaqEntry]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = []
    for item in data.get("faq", []):
        entries.append(
            FaqEntry(
                id=str(item["id"]),
                question=str(item["question"]),
                answer=str(item["answer"]),
                alternatives=tuple(str(a) for a in item.get("alternatives", [])),
            )
        )
    if len({e.id for e in entries}) != len(entries):
        raise ValueError(f"{path}: two FAQ entries share an id")
    return entries


class FaqIndex:
    def __init__(
        self, entries: list[FaqEntry], similarity: Similarity, *, threshold: float = THRESHOLD
    ) -> None:
        self.entries = entries
        self.similarity = similarity
        self.threshold = threshold
        self._owner: list[int] = []
        phrasings: list[str] = []
        for index, entry in enumerate(entries):
            for text in (entry.question, *entry.alternatives):
                phrasings.append(text)
                self._owner.append(index)
        self._vectors = similarity.vectors(phrasings) if phrasings else None

    def search(self, question: str) -> FaqAnswer | None:
        """The best entry for the question, or None when none is close enough."""
        best = self.best(question)
        return best if best is not None and best.score >= self.threshold else None

    def best(self, question: str) -> FaqAnswer | None:
        """The closest entry whatever its score (None only for an empty question)."""
        if self._vectors is None or not question or not question.strip():
            return None
        scores = self.similarity.matrix(self.similarity.vectors([question]), self._vectors)[0]
        best = int(np.argmax(scores))
        entry = self.entries[self._owner[best]]
        return FaqAnswer(
            id=entry.id, question=entry.question, answer=entry.answer, score=float(scores[best])
        )
