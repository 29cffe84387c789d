"""The category of a message: character n-grams and a sentence encoder, each with a linear head.

`nlu/README.md` has the comparison that chose the default ("combined"): the n-gram model and
the encoder's head each give probabilities, and their weighted mean decides. The weight is a
setting of the trained model (nlu/README.md has how it was chosen).

Probabilities come from logistic regression, and the mixture of two models is
underconfident, so training fits a temperature on out-of-fold predictions of the training
split (`fit_temperature`). They are what the triage threshold compares against, so
`tiepdan nlu evaluate` reports the calibration error and, per threshold, how many messages
fall below it and how accurate the rest are.
"""

from __future__ import annotations

import json
import pickle
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import cast

import numpy as np
from scipy.sparse import csr_matrix, vstack

from nlu.encoder import MAX_CHARS, Encoder, load_encoder
from nlu.language import SYLLABLE, detect_language
from nlu.normalize import fold, normalize

FALLBACK = "khac"
# Confidence given to input that is not a message the model can read (empty, emoji, another
# script, a string of codes).
UNREADABLE_CONFIDENCE = 0.05

_LETTERS = re.compile(r"[^\W\d_]+", re.UNICODE)


def looks_vietnamese(text: str) -> bool:
    """Whether most words of the text are Vietnamese syllables."""
    words = _LETTERS.findall(fold(normalize(text[:MAX_CHARS])))
    if not words:
        return False
    syllables = sum(1 for w in words if SYLLABLE.fullmatch(w))
    return syllables >= 2 and syllables / len(words) >= 0.6


def readable(text: str, known_words: frozenset[str] = frozenset()) -> bool:
    """A message in Vietnamese, or in English, or one whose words the model mostly knows from
    its training messages (English from the firms, a Vietnamese place name in it)."""
    if looks_vietnamese(text):
        return True
    head = text[:MAX_CHARS]
    words = _LETTERS.findall(ngram_input(head))
    if len(words) < 2:
        return False
    if detect_language(head) == "en":
        return True
    return sum(1 for w in words if w in known_words) / len(words) >= 0.6


def ngram_input(text: str) -> str:
    return fold(normalize(text[:MAX_CHARS]))


@dataclass(frozen=True)
class CategoryPrediction:
    category: str
    confidence: float
    probabilities: dict[str, float]


# How many recent messages' features a model keeps, and the largest call whose texts it keeps.
_KEPT_MESSAGES = 256
_KEPT_BATCH = 16


@dataclass(frozen=True)
class Features:
    """What the two models read of some texts, one row per text: the n-gram model's TF-IDF
    (None without an n-gram model) and the encoder's vectors (None without an encoder)."""

    ngrams: csr_matrix | None
    dense: np.ndarray | None

    def row(self, index: int) -> Features:
        return Features(
            ngrams=None if self.ngrams is None else self.ngrams[index],
            dense=None if self.dense is None else self.dense[index : index + 1],
        )

    @staticmethod
    def stack(rows: Sequence[Features]) -> Features:
        first = rows[0]
        return Features(
            ngrams=None if first.ngrams is None else csr_matrix(vstack([r.ngrams for r in rows])),
            dense=None
            if first.dense is None
            else np.vstack([cast(np.ndarray, r.dense) for r in rows]),
        )


class CategoryModel:
    """Predicts a category with its probability; never raises on odd input."""

    def __init__(
        self,
        *,
        labels: list[str],
        ngram: object | None,
        head: object | None,
        encoder: Encoder | None,
        encoder_weight: float,
        temperature: float = 1.0,
        held_out: Sequence[tuple[float, bool]] = (),
    ) -> None:
        self.labels = labels
        self.ngram = ngram
        self.head = head
        self.encoder = encoder
        self.encoder_weight = encoder_weight
        self.temperature = temperature
        # (confidence, right) for writing the model was not trained on (nlu/training.py): what
        # the triage threshold is chosen from.
        self.held_out = list(held_out)
        self._recent: OrderedDict[str, Features] = OrderedDict()
        self._recent_lock = threading.Lock()

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, one row per text, columns in `self.labels` order."""
        import sklearn

        # The inputs are our own vectorisers' output, checked once at training: sklearn's
        # per-call parameter and finiteness checks were a third of a message's time.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            features = self.features(texts)
            parts: list[tuple[float, np.ndarray]] = []
            if self.ngram is not None and features.ngrams is not None:
                classifier = self.ngram.steps[-1][1]  # type: ignore[attr-defined]
                probs = classifier.predict_proba(features.ngrams)
                parts.append((1.0 - self.encoder_weight if self.head is not None else 1.0, probs))
            if self.head is not None and features.dense is not None:
                probs = self.head.predict_proba(features.dense)  # type: ignore[attr-defined]
                parts.append((self.encoder_weight if self.ngram is not None else 1.0, probs))
        mixed: np.ndarray = sum(weight * probs for weight, probs in parts)  # type: ignore[assignment]
        return calibrate(mixed, self.temperature)

    def features(self, texts: Sequence[str]) -> Features:
        """The n-gram model's TF-IDF rows and the encoder's vectors of the texts.

        Routing reads a report's category and then compares the report with the open tickets
        (nlu/similarity.py), and both need these: the last few messages' features are kept, so
        a report is vectorised once. Batches (training, evaluation) are not kept.
        """
        if not texts or len(texts) > _KEPT_BATCH:
            return self._compute_features(texts)
        with self._recent_lock:
            known = {t: self._recent[t] for t in texts if t in self._recent}
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            fresh = self._compute_features(missing)
            with self._recent_lock:
                for row, text in enumerate(missing):
                    known[text] = self._recent[text] = fresh.row(row)
                while len(self._recent) > _KEPT_MESSAGES:
                    self._recent.popitem(last=False)
        return Features.stack([known[t] for t in texts])

    def forget_features(self) -> None:
        """Drop the kept features (the benchmark's baseline)."""
        with self._recent_lock:
            self._recent.clear()

    def _compute_features(self, texts: Sequence[str]) -> Features:
        import sklearn

        ngrams = None
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            if self.ngram is not None:
                union = self.ngram.steps[0][1]  # type: ignore[attr-defined]
                ngrams = ngram_rows(union, [ngram_input(t) for t in texts])
        dense = self.encoder.encode(texts) if self.encoder is not None else None
        return Features(ngrams=ngrams, dense=dense)

    def predict(self, text: str) -> CategoryPrediction:
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[CategoryPrediction]:
        texts = [t if isinstance(t, str) else "" for t in texts]
        results: list[CategoryPrediction | None] = [None] * len(texts)
        known = self.known_words
        readable_rows = [i for i, t in enumerate(texts) if readable(t, known)]
        if readable_rows:
            probs = self.probabilities([texts[i] for i in readable_rows])
            for row, index in enumerate(readable_rows):
                best = int(np.argmax(probs[row]))
                results[index] = CategoryPrediction(
                    category=self.labels[best],
                    confidence=float(probs[row][best]),
                    probabilities={
                        label: float(p) for label, p in zip(self.labels, probs[row], strict=True)
                    },
                )
        return [
            r
            if r is not None
            else CategoryPrediction(FALLBACK, UNREADABLE_CONFIDENCE, {FALLBACK: 1.0})
            for r in results
        ]

    @cached_property
    def known_words(self) -> frozenset[str]:
        """The single words of the training messages (the n-gram model's word vocabulary)."""
        if self.ngram is None:
            return frozenset()
        features = self.ngram.steps[0][1]  # type: ignore[attr-defined]
        words = dict(features.transformer_list)["words"]
        return frozenset(term for term in words.vocabulary_ if " " not in term)

    def threshold_for_precision(self, target: float, *, fallback: float = 0.8) -> float:
        """The lowest confidence at which the held-out messages routed automatically (those at
        or above it) are right at least `target` of the time; `fallback` without held-out data.

        Above the threshold is automatic routing, below it a dispatcher's triage queue: a
        wrongly routed ticket costs a citizen days, a triaged one costs a dispatcher seconds.
        """
        if not self.held_out:
            return fallback
        ranked = sorted(self.held_out, key=lambda pair: -pair[0])
        right = 0
        threshold = 1.0
        for count, (confidence, correct) in enumerate(ranked, start=1):
            right += correct
            last_of_its_confidence = count == len(ranked) or ranked[count][0] < confidence
            # Routing takes every message at or above a threshold: equal confidences go together.
            if last_of_its_confidence and right / count >= target:
                threshold = confidence
        return threshold

    # Saving: sklearn objects are pickled; load only models this project trained.
    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        with (path / "category.pkl").open("wb") as f:
            pickle.dump({"labels": self.labels, "ngram": self.ngram, "head": self.head}, f)
        (path / "category.json").write_text(
            json.dumps(
                {
                    "encoder_weight": self.encoder_weight,
                    "temperature": self.temperature,
                    "held_out": [[round(c, 5), bool(r)] for c, r in self.held_out],
                }
            ),
            "utf-8",
        )

    @classmethod
    def load(cls, path: Path) -> CategoryModel:
        with (path / "category.pkl").open("rb") as f:
            parts = pickle.load(f)  # our own training output, see save()
        settings = json.loads((path / "category.json").read_text("utf-8"))
        encoder = load_encoder(path / "encoder") if (path / "encoder").is_dir() else None
        return cls(
            labels=parts["labels"],
            ngram=parts["ngram"],
            head=parts["head"],
            encoder=encoder,
            encoder_weight=settings["encoder_weight"],
            temperature=settings.get("temperature", 1.0),
            held_out=[(float(c), bool(r)) for c, r in settings.get("held_out", [])],
        )


def ngram_rows(union: object, inputs: list[str]) -> csr_matrix:
    """What `union.transform(inputs)` gives: each TF-IDF vectoriser's rows, side by side.

    Computed as sklearn does (counts; log + 1 if sublinear; times the idf; unit length), without
    its per-call input checks and job dispatch: on one message those took longer than the
    counting itself (nlu/README.md, "Latency"). tests/nlu/test_category.py checks the rows are
    the same as sklearn's.
    """
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

    parts = []
    for _, vectoriser in union.transformer_list:  # type: ignore[attr-defined]
        # train_ngram's vectorisers: idf weights, rows of unit (l2) length.
        rows = csr_matrix(CountVectorizer.transform(vectoriser, inputs), dtype=np.float64)
        if vectoriser.sublinear_tf:
            np.log(rows.data, out=rows.data)
            rows.data += 1.0
        rows.data *= vectoriser.idf_[rows.indices]
        inplace_csr_row_normalize_l2(rows)
        parts.append(rows)
    return csr_matrix(hstack(parts, format="csr"))


def calibrate(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling: p^(1/T), renormalised. T < 1 sharpens, T > 1 softens."""
    if temperature == 1.0:
        return probabilities
    scaled = np.power(np.clip(probabilities, 1e-12, 1.0), 1.0 / temperature)
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_temperature(probabilities: np.ndarray, truth: Sequence[int]) -> float:
    """The temperature that minimises the log-loss of out-of-fold predictions."""
    rows = np.arange(len(truth))

    def log_loss(temperature: float) -> float:
        calibrated = calibrate(probabilities, temperature)
        return float(-np.log(calibrated[rows, list(truth)] + 1e-12).mean())

    return float(min(np.arange(0.1, 2.0, 0.02), key=log_loss))


def train_ngram(texts: Sequence[str], labels: Sequence[str], *, c: float = 20.0) -> object:
    """Character n-grams (2–5, within words), word uni/bigrams, and character 4–6-grams across
    word boundaries, of the folded text.

    The last ones read a short message's two-word phrase however it was typed: "mat nuoc",
    "matnuoc", "mất nướcc" share most of them. On the calibration writers they cut errors by a
    tenth, short messages most (nlu/README.md, "The sixth round").
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline

    features = FeatureUnion(
        [
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    sublinear_tf=True,
                    min_df=2,
                    max_features=200_000,
                ),
            ),
            (
                "words",
                TfidfVectorizer(
                    analyzer="word",
                    ngram_range=(1, 2),
                    sublinear_tf=True,
                    token_pattern=r"(?u)\b\w+\b",
                ),
            ),
            (
                "phrases",
                TfidfVectorizer(
                    analyzer="char",
                    ngram_range=(4, 6),
                    sublinear_tf=True,
                    min_df=2,
                    max_features=200_000,
                ),
            ),
        ]
    )
    model = make_pipeline(features, LogisticRegression(C=c, max_iter=3000))
    model.fit([ngram_input(t) for t in texts], list(labels))
    return model


def train_head(vectors: np.ndarray, labels: Sequence[str], *, c: float = 10.0) -> object:
    from sklearn.linear_model import LogisticRegression

    head = LogisticRegression(C=c, max_iter=3000)
    head.fit(vectors, list(labels))
    return head
