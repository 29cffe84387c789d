"""How alike two messages are: the duplicate check and the FAQ search both ask this.

A message has two vectors: its TF-IDF vector of character and word n-grams (the n-gram model's
features, so the vocabulary is the training data's) and its sentence-encoder vector. The
similarity is a weighted sum of the two cosines. The encoder was trained to group messages by
category, so within one category it sees most complaints as alike; the n-grams see the street,
the house number and the object. The weights come from the tuning sets (nlu/README.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.preprocessing import normalize as unit_rows

from nlu.category import CategoryModel


@dataclass(frozen=True)
class Vectors:
    ngrams: csr_matrix  # unit rows
    dense: np.ndarray  # unit rows


class Similarity:
    def __init__(self, model: CategoryModel, *, ngram_weight: float) -> None:
        assert model.ngram is not None and model.encoder is not None
        self.model = model
        self.ngram_weight = ngram_weight

    def vectors(self, texts: Sequence[str]) -> Vectors:
        # The category model's own features: a report just classified is not vectorised again.
        features = self.model.features(texts)
        assert features.ngrams is not None and features.dense is not None
        return Vectors(ngrams=csr_matrix(unit_rows(features.ngrams)), dense=features.dense)

    def stack(self, rows: Sequence[Vectors]) -> Vectors:
        """One Vectors of many (each typically one row), e.g. from a cache."""
        from scipy.sparse import vstack

        return Vectors(
            ngrams=csr_matrix(vstack([r.ngrams for r in rows])),
            dense=np.vstack([r.dense for r in rows]),
        )

    def matrix(self, left: Vectors, right: Vectors) -> np.ndarray:
        """Similarity of every left row to every right row."""
        ngrams = (left.ngrams @ right.ngrams.T).toarray()
        dense = left.dense @ right.dense.T
        return self.ngram_weight * ngrams + (1 - self.ngram_weight) * dense

    def pairwise(self, left: Sequence[str], right: Sequence[str]) -> np.ndarray:
        """Similarity of left[i] to right[i]."""
        a, b = self.vectors(left), self.vectors(right)
        ngrams = np.asarray(a.ngrams.multiply(b.ngrams).sum(axis=1)).ravel()
        dense = (a.dense * b.dense).sum(axis=1)
        return self.ngram_weight * ngrams + (1 - self.ngram_weight) * dense
