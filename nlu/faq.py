"""Answers to common questions, from the question-and-answer pairs staff maintain (nlu/faq.yaml).

A question is compared with every entry's question and its alternative phrasings. A wrong
official answer costs more than "a staff member will answer you", so the search abstains
unless three things hold:

- **Close enough.** The best entry scores at least `THRESHOLD`. Questions about procedures
  share their frame ("... cần giấy tờ gì, làm ở đâu"), so a question about a procedure the FAQ
  does not cover still scores well against one it does: the similarity alone cannot tell
  "đăng ký khai tử" from "đăng ký khai sinh".
- **No subject conflict.** `SUBJECTS` lists the words that name a procedure or a paper
  (căn cước, thường trú, khai sinh, hộ chiếu, sổ đỏ ...). If the question names one that the
  entry's own phrasings never name, the entry is about something else, whatever its score:
  an ID-card question is not answered with the residence entry. When the question and the
  entry name the same subject, that agreement is evidence the frame cannot give, and
  `NAMED_THRESHOLD`, lower, applies instead.
- **Clearly ahead.** The best entry beats the best *different* entry by `MARGIN`. Two entries
  in a tie (looking up a report vs. forgetting its code) mean the question sits between them.

The subjects are a list, not a model, because an entry staff add in the panel has no
training data; the rule only asks that an entry name what it answers. The numbers were tuned
on nlu/data/faq_test.jsonl and nlu/data/faq_tune.jsonl for precision first (nlu/README.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from nlu.normalize import fold, normalize
from nlu.similarity import Similarity

DEFAULT_FAQ_FILE = Path(__file__).resolve().parent / "faq.yaml"
# Tuned on nlu/data/faq_test.jsonl and faq_tune.jsonl (nlu/README.md).
NGRAM_WEIGHT = 0.6
THRESHOLD = 0.54
NAMED_THRESHOLD = 0.36
MARGIN = 0.08

# Each group is one subject, written without diacritics (matched on whole words of the folded
# text). Subjects the FAQ has no entry for are here too: naming one is what keeps a passport
# question from the residence entry.
# English words are here too, for firms' staff and expats: "temporary residence card" (a
# foreigner's card, an immigration matter) names its own subject as well as "temporary
# residence", so the ward's residence-registration entry does not answer it.
SUBJECTS: tuple[tuple[str, ...], ...] = (
    ("can cuoc", "chung minh nhan dan", "chung minh thu", "cmnd", "id card", "citizen id"),
    ("thuong tru", "ho khau", "nhap khau", "permanent residence"),
    ("tam tru", "temporary residence", "temporary residency"),
    ("the tam tru", "temporary residence card", "residence card"),
    ("tam vang",),
    ("khai sinh", "birth certificate", "birth registration", "register a birth"),
    ("khai tu", "death certificate", "death registration", "register a death"),
    ("ket hon", "marriage", "get married", "marry"),
    ("ly hon", "divorce"),
    ("tinh trang hon nhan", "marital status", "single status"),
    ("con nuoi", "adopt", "adoption"),
    (
        "so do",
        "so hong",
        "quyen su dung dat",
        "bien dong dat",
        "land use right",
        "land certificate",
        "red book",
        "pink book",
    ),
    ("tach thua", "subdivide", "split the land"),
    ("phep xay", "construction permit", "building permit"),
    ("hoan cong",),
    (
        "kinh doanh",
        "thanh lap cong ty",
        "dang ky doanh nghiep",
        "business registration",
        "business license",
        "business licence",
        "household business",
        "register a company",
        "set up a company",
    ),
    ("dang ky dau tu", "investment registration", "irc"),
    ("giay phep lao dong", "work permit"),
    ("thi thuc", "visa"),
    ("ho chieu", "passport"),
    ("bang lai", "giay phep lai xe", "driving licence", "driving license", "driver license"),
    ("bien so", "dang ky xe", "vehicle registration", "license plate"),
    ("luong huu", "huu tri", "pension"),
    ("that nghiep", "unemployment"),
    ("bao hiem y te", "health insurance"),
    ("bao hiem xa hoi", "social insurance"),
    ("ly lich tu phap", "criminal record"),
    ("dinh danh",),
)


@dataclass(frozen=True)
class FaqEntry:
    id: str
    question: str
    answer: str
    alternatives: tuple[str, ...] = ()  # other phrasings, Vietnamese or English
    answer_en: str = ""  # for firms' staff and expats; empty: an English question goes to staff


@dataclass(frozen=True)
class FaqAnswer:
    id: str
    question: str
    answer: str
    score: float
    answer_en: str = ""

    def text_in(self, language: str) -> str | None:
        """The answer in the asker's language ("vi" or "en"); None when the entry has no
        answer in it: a Vietnamese paragraph does not answer someone who wrote in English."""
        if language == "en":
            return self.answer_en or None
        return self.answer


@dataclass(frozen=True)
class FaqCandidate:
    """An entry's best score for a question, and how their subjects compare."""

    answer: FaqAnswer
    conflict: bool  # the question names a subject the entry does not
    named: bool  # the question names a subject, and the entry names every one it names


def subjects(text: str) -> frozenset[int]:
    """The indexes in SUBJECTS of the subjects the text names."""
    words = " " + " ".join(re.findall(r"\w+", fold(normalize(text)))) + " "
    return frozenset(
        i for i, terms in enumerate(SUBJECTS) if any(f" {term} " in words for term in terms)
    )


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
                answer_en=str(item.get("answer_en") or ""),
            )
        )
    if len({e.id for e in entries}) != len(entries):
        raise ValueError(f"{path}: two FAQ entries share an id")
    return entries


class FaqIndex:
    def __init__(
        self,
        entries: list[FaqEntry],
        similarity: Similarity,
        *,
        threshold: float = THRESHOLD,
        named_threshold: float = NAMED_THRESHOLD,
        margin: float = MARGIN,
    ) -> None:
        self.entries = entries
        self.similarity = similarity
        self.threshold = threshold
        self.named_threshold = named_threshold
        self.margin = margin
        self._owner: list[int] = []
        phrasings: list[str] = []
        for index, entry in enumerate(entries):
            for text in (entry.question, *entry.alternatives):
                phrasings.append(text)
                self._owner.append(index)
        self._vectors = similarity.vectors(phrasings) if phrasings else None
        self._subjects = [
            frozenset().union(*(subjects(t) for t in (e.question, *e.alternatives)))
            for e in entries
        ]

    def search(self, question: str) -> FaqAnswer | None:
        """The best entry for the question, or None when the answer could be wrong."""
        return self.decide(self.ranked(question))

    def best(self, question: str) -> FaqAnswer | None:
        """The closest entry whatever its score (None only for an empty question)."""
        ranked = self.ranked(question)
        return ranked[0].answer if ranked else None

    def ranked(self, question: str) -> list[FaqCandidate]:
        """Every entry with its best phrasing's score, best first."""
        if self._vectors is None or not question or not question.strip():
            return []
        scores = self.similarity.matrix(self.similarity.vectors([question]), self._vectors)[0]
        best = np.full(len(self.entries), -np.inf)
        np.maximum.at(best, self._owner, scores)
        asked = subjects(question)
        candidates = []
        for index in np.argsort(-best):
            entry, own = self.entries[index], self._subjects[index]
            candidates.append(
                FaqCandidate(
                    answer=FaqAnswer(
                        entry.id, entry.question, entry.answer, float(best[index]), entry.answer_en
                    ),
                    conflict=not asked <= own,
                    named=bool(asked) and asked <= own,
                )
            )
        return candidates

    def decide(
        self,
        ranked: Sequence[FaqCandidate],
        *,
        threshold: float | None = None,
        margin: float | None = None,
    ) -> FaqAnswer | None:
        """The rule of the module docstring. `threshold` (for questions that name no subject) and
        `margin` replace the index's own, to evaluate other settings."""
        if not ranked or ranked[0].conflict:
            return None
        top = ranked[0]
        if top.named:
            floor = self.named_threshold
        else:
            floor = self.threshold if threshold is None else threshold
        runner_up = ranked[1].answer.score if len(ranked) > 1 else -np.inf
        if top.answer.score < floor:
            return None
        if top.answer.score - runner_up < (self.margin if margin is None else margin):
            return None
        return top.answer
