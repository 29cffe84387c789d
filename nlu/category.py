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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlu.encoder import MAX_CHARS, Encoder, load_encoder
from nlu.normalize import fold, normalize

FALLBACK = "khac"
# Confidence given to input that is not a Vietnamese message at all (empty, emoji, English).
NOT_VIETNAMESE_CONFIDENCE = 0.05

# A Vietnamese syllable without diacritics: onset, vowels, final consonant. English words
# ("road", "broken", "street") fail it; so do other scripts.
_SYLLABLE = re.compile(
    r"(ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnpqrstvx])?"
    r"[aeiouy]{1,3}"
    r"(ng|nh|ch|[cmnpt])?"
)
_LETTERS = re.compile(r"[^\W\d_]+", re.UNICODE)


def looks_vietnamese(text: str) -> bool:
    """Whether most words of the text are Vietnamese syllables."""
    words = _LETTERS.findall(fold(normalize(text[:MAX_CHARS])))
    if not words:
        return False
    syllables = sum(1 for w in words if _SYLLABLE.fullmatch(w))
    return syllables >= 2 and syllables / len(words) >= 0.6


def ngram_input(text: str) -> str:
    return fold(normalize(text[:MAX_CHARS]))


@dataclass(frozen=True)
class CategoryPrediction:
    category: str
    confidence: float
    probabilities: dict[str, float]


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
    ) -> None:
        self.labels = labels
        self.ngram = ngram
        self.head = head
        self.encoder = encoder
        self.encoder_weight = encoder_weight
        self.temperature = temperature

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, one row per text, columns in `self.labels` order."""
        parts: list[tuple[float, np.ndarray]] = []
        if self.ngram is not None:
            probs = self.ngram.predict_proba([ngram_input(t) for t in texts])  # type: ignore[attr-defined]
            parts.append((1.0 - self.encoder_weight if self.head is not None else 1.0, probs))
        if self.head is not None and self.encoder is not None:
            probs = self.head.predict_proba(self.encoder.encode(texts))  # type: ignore[attr-defined]
            parts.append((self.encoder_weight if self.ngram is not None else 1.0, probs))
        mixed: np.ndarray = sum(weight * probs for weight, probs in parts)  # type: ignore[assignment]
        return calibrate(mixed, self.temperature)

    def predict(self, text: str) -> CategoryPrediction:
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[CategoryPrediction]:
        texts = [t if isinstance(t, str) else "" for t in texts]
        results: list[CategoryPrediction | None] = [None] * len(texts)
        readable = [i for i, t in enumerate(texts) if looks_vietnamese(t)]
        if readable:
            probs = self.probabilities([texts[i] for i in readable])
            for row, index in enumerate(readable):
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
            else CategoryPrediction(FALLBACK, NOT_VIETNAMESE_CONFIDENCE, {FALLBACK: 1.0})
            for r in results
        ]

    # Saving: sklearn objects are pickled; load only models this project trained.
    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        with (path / "category.pkl").open("wb") as f:
            pickle.dump({"labels": self.labels, "ngram": self.ngram, "head": self.head}, f)
        (path / "category.json").write_text(
            json.dumps({"encoder_weight": self.encoder_weight, "temperature": self.temperature}),
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
        )


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
    """Character n-grams (2–5, within words) and word uni/bigrams of the folded text."""
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
