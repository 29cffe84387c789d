"""Train the NLU model: the encoder, the category heads, and the record of what went in.

A model lives in a folder named by the hash of its training data and settings, so training
twice on the same data is a no-op and a changed line of data gives a new model.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.settings import Settings
from nlu import dataset
from nlu.category import CategoryModel, fit_temperature, train_head, train_ngram
from nlu.encoder import Encoder, load_encoder, minilm_path, train_static_encoder

MODEL_FORMAT = 8  # bump when a saved model can no longer be read, or training changes
ENCODER_WEIGHT = 0.15  # the encoder head's share of the combined probability (nlu/README.md)

Progress = Callable[[str], None]


def model_dir(settings: Settings) -> Path:
    """Where the model for the current data and settings is (trained or not)."""
    if settings.nlu_model_dir is not None:
        return settings.nlu_model_dir
    examples = dataset.training_examples(settings.nlu_extra_dir)
    key = dataset.fingerprint(examples, MODEL_FORMAT, settings.nlu_encoder, ENCODER_WEIGHT)
    return settings.cache_dir / "nlu" / key


def is_trained(path: Path) -> bool:
    return (path / "meta.json").is_file()


def train(
    settings: Settings, *, force: bool = False, progress: Progress = print
) -> tuple[Path, bool]:
    """Train into `model_dir(settings)` unless it is already there. Returns (path, trained)."""
    target = model_dir(settings)
    if is_trained(target) and not force:
        progress(f"The model for this data is already trained: {target}")
        return target, False
    started = time.monotonic()
    examples = dataset.training_examples(settings.nlu_extra_dir)
    texts = [e.text for e in examples]
    labels = [e.category for e in examples]
    progress(f"Training on {len(examples)} examples, {len(set(labels))} categories")
    # Build next to the target and swap in at the end, so a half-trained model is never read.
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)

    progress("1/4 character n-gram model")
    ngram = train_ngram(texts, labels)
    progress("2/4 sentence encoder")
    encoder_dir = staging / "encoder"
    if settings.nlu_encoder == "static":
        train_static_encoder(texts, labels, encoder_dir, progress=progress)
    else:
        source = minilm_path() if settings.nlu_encoder == "minilm" else Path(settings.nlu_encoder)
        shutil.copytree(source, encoder_dir)
    encoder = load_encoder(encoder_dir)
    progress("3/4 category head on the encoder")
    vectors = encoder.encode(texts)
    head = train_head(vectors, labels)
    progress("4/4 calibration on writers held out")
    temperature, held_out = _calibrate(examples, vectors, encoder, settings, staging, progress)
    progress(f"temperature {temperature:.2f}; {len(held_out)} held-out predictions")
    model = CategoryModel(
        labels=list(ngram.classes_),  # type: ignore[attr-defined]
        ngram=ngram,
        head=head,
        encoder=encoder,
        encoder_weight=ENCODER_WEIGHT,
        temperature=temperature,
        held_out=held_out,
    )
    model.save(staging)
    meta = {
        "format": MODEL_FORMAT,
        "examples": len(examples),
        "encoder": settings.nlu_encoder,
        "encoder_weight": ENCODER_WEIGHT,
        "temperature": temperature,
        "threshold_at_97": model.threshold_for_precision(0.97),
        "seconds": round(time.monotonic() - started, 1),
    }
    (staging / "meta.json").write_text(json.dumps(meta, indent=2), "utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    progress(f"Trained in {meta['seconds']} s: {target}")
    return target, True


def _fit_temperature(
    texts: list[str], labels: list[str], vectors: np.ndarray, encoder: Encoder
) -> float:
    """Fit the temperature on predictions for messages each fold's model did not see.

    The encoder itself is trained once, on everything: retraining it per fold would triple the
    training time. Its head, like the n-gram model, is refitted per fold.
    """
    from sklearn.model_selection import StratifiedKFold

    truth = np.array(labels)
    out_of_fold: np.ndarray | None = None
    classes: list[str] = []
    for fitted, held in StratifiedKFold(3, shuffle=True, random_state=13).split(texts, truth):
        ngram = train_ngram([texts[i] for i in fitted], truth[fitted])
        head = train_head(vectors[fitted], truth[fitted])
        classes = list(ngram.classes_)  # type: ignore[attr-defined]
        fold = CategoryModel(
            labels=classes, ngram=ngram, head=head, encoder=encoder, encoder_weight=ENCODER_WEIGHT
        )
        probabilities = fold.probabilities([texts[i] for i in held])
        if out_of_fold is None:
            out_of_fold = np.zeros((len(texts), probabilities.shape[1]))
        out_of_fold[held] = probabilities
    assert out_of_fold is not None
    return fit_temperature(out_of_fold, [classes.index(label) for label in labels])


# The writers held out for calibration: the later writers' genres (Zalo, Facebook, hotline
# notes, petitions, firms' letters, telex leftovers), unlike the first brief's habits.
HELD_OUT_SOURCE = "genres"


def _calibrate(
    examples: list[dataset.Example],
    vectors: np.ndarray,
    encoder: Encoder,
    settings: Settings,
    staging: Path,
    progress: Progress,
) -> tuple[float, list[tuple[float, bool]]]:
    """The temperature, and (confidence, right) per held-out message, from a model trained
    without HELD_OUT_SOURCE's writers, its own static encoder included.

    Random folds share each writer's habits between training and test and flatter the model:
    the first model, calibrated so, routed 97% right on its own split and 90% on new writers.
    Without held-out writers (an operator's own data), 3 random folds it is.
    """
    texts = [e.text for e in examples]
    labels = [e.category for e in examples]
    held = [i for i, e in enumerate(examples) if e.source == HELD_OUT_SOURCE]
    fitted = [i for i, e in enumerate(examples) if e.source != HELD_OUT_SOURCE]
    if not held or not fitted:
        return _fit_temperature(texts, labels, vectors, encoder), []
    fitted_texts, fitted_labels = [texts[i] for i in fitted], [labels[i] for i in fitted]
    if settings.nlu_encoder == "static":  # trained on our messages: it must not see the writers
        progress("   an encoder without the held-out writers")
        folder = staging / "held-out-encoder"
        train_static_encoder(fitted_texts, fitted_labels, folder, progress=progress)
        encoder = load_encoder(folder)
        fitted_vectors = encoder.encode(fitted_texts)
        shutil.rmtree(folder)
    else:
        fitted_vectors = vectors[fitted]
    ngram = train_ngram(fitted_texts, fitted_labels)
    model = CategoryModel(
        labels=list(ngram.classes_),  # type: ignore[attr-defined]
        ngram=ngram,
        head=train_head(fitted_vectors, fitted_labels),
        encoder=encoder,
        encoder_weight=ENCODER_WEIGHT,
    )
    held_texts = [texts[i] for i in held]
    truth = [model.labels.index(labels[i]) for i in held]
    model.temperature = fit_temperature(model.probabilities(held_texts), truth)
    predictions = model.predict_many(held_texts)
    return model.temperature, [
        (p.confidence, p.category == labels[i]) for p, i in zip(predictions, held, strict=True)
    ]
