"""The NLU as the rest of the platform uses it: one object, loaded once per process.

nlu = get_nlu()
nlu.analyse("Đèn đường hỏng ở P. Phú Cường, TP Thủ Dầu Một")
# Analysis(category='ha_tang_do_thi', category_confidence=0.93, ward=WardMatch('25747', ...))
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings, get_settings
from nlu import duplicates, faq
from nlu.category import CategoryModel
from nlu.duplicates import DuplicateCandidate, DuplicateFinder, OpenTicket
from nlu.faq import FaqAnswer, FaqIndex
from nlu.similarity import Similarity
from nlu.training import is_trained, model_dir
from nlu.wards import DEFAULT_PROVINCE, WardMatch, extract_ward

TOP_CATEGORIES = 3


class ModelNotTrained(RuntimeError):
    pass


@dataclass(frozen=True)
class Analysis:
    category: str
    category_confidence: float
    ward: WardMatch | None
    # The best categories with their probabilities, best first (a dispatcher's triage choices).
    top_categories: tuple[tuple[str, float], ...] = ()


class NLU:
    def __init__(
        self, path: Path, *, faq_file: Path | None = None, province_code: str = DEFAULT_PROVINCE
    ) -> None:
        if not is_trained(path):
            raise ModelNotTrained(
                f"No NLU model in {path}. Train it with `tiepdan nlu train` (about a minute)."
            )
        self.path = path
        self.province_code = province_code
        self.category = CategoryModel.load(path)
        self.duplicates = DuplicateFinder(
            Similarity(self.category, ngram_weight=duplicates.NGRAM_WEIGHT),
            province_code=province_code,
        )
        self._faq_file = faq_file or faq.DEFAULT_FAQ_FILE
        self._faq: FaqIndex | None = None
        self._edited: tuple[str, FaqIndex] | None = None
        self._faq_lock = threading.Lock()

    def triage_threshold(self, settings: Settings | None = None) -> float:
        """The category confidence below which a ticket goes to triage: the setting when it is
        set, else the model's threshold for the target precision."""
        settings = settings or get_settings()
        if settings.triage_threshold is not None:
            return settings.triage_threshold
        return self.category.threshold_for_precision(settings.triage_precision)

    def routes(self, analysis: Analysis) -> bool:
        """Whether the category is sure enough to route on without a dispatcher. A sure `khac`
        is: the province routes what fits no category to an office that forwards it."""
        return analysis.category_confidence >= self.triage_threshold()

    def analyse(self, text: str) -> Analysis:
        return self.analyse_many([text])[0]

    def analyse_many(self, texts: Sequence[str]) -> list[Analysis]:
        texts = [t if isinstance(t, str) else "" for t in texts]
        predictions = self.category.predict_many(texts)
        return [
            Analysis(
                category=p.category,
                category_confidence=p.confidence,
                ward=extract_ward(t, self.province_code),
                top_categories=tuple(
                    sorted(p.probabilities.items(), key=lambda item: -item[1])[:TOP_CATEGORIES]
                ),
            )
            for t, p in zip(texts, predictions, strict=True)
        ]

    def find_duplicate(
        self,
        text: str,
        *,
        category: str | None,
        ward_code: str | None,
        open_tickets: Sequence[OpenTicket],
    ) -> DuplicateCandidate | None:
        return self.duplicates.find(
            text, category=category, ward_code=ward_code, open_tickets=open_tickets
        )

    def answer(
        self, question: str, *, entries: Sequence[faq.FaqEntry] | None = None, version: str = ""
    ) -> FaqAnswer | None:
        """The best answer from the FAQ file, or from `entries` (staff's, from the database):
        their index is rebuilt when `version` changes."""
        if entries is None:
            return self.faq_index().search(question)
        with self._faq_lock:
            if self._edited is None or self._edited[0] != version:
                similarity = Similarity(self.category, ngram_weight=faq.NGRAM_WEIGHT)
                self._edited = (version, FaqIndex(list(entries), similarity))
            index = self._edited[1]
        return index.search(question)

    def faq_index(self) -> FaqIndex:
        with self._faq_lock:  # built on first question, not at start: most workers never ask
            if self._faq is None:
                similarity = Similarity(self.category, ngram_weight=faq.NGRAM_WEIGHT)
                self._faq = FaqIndex(faq.load_entries(self._faq_file), similarity)
            return self._faq


_nlu: NLU | None = None
_lock = threading.Lock()


def get_nlu(settings: Settings | None = None) -> NLU:
    """The process's NLU, loaded on first use (never at import)."""
    global _nlu
    with _lock:
        if _nlu is None:
            settings = settings or get_settings()
            _nlu = NLU(model_dir(settings), faq_file=settings.faq_file)
        return _nlu


def forget_nlu() -> None:
    global _nlu
    with _lock:
        _nlu = None
