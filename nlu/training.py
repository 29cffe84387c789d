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

from core.settings import Settings
from nlu import dataset
from nlu.category import CategoryModel, train_head, train_ngram
from nlu.encoder import load_encoder, minilm_path, train_static_encoder

MODEL_FORMAT = 1  # bump when a saved model can no longer be read by this code
ENCODER_WEIGHT = 0.35  # the encoder head's share of the combined probability (nlu/README.md)

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

    progress("1/3 character n-gram model")
    ngram = train_ngram(texts, labels)
    progress("2/3 sentence encoder")
    encoder_dir = staging / "encoder"
    if settings.nlu_encoder == "static":
        train_static_encoder(texts, labels, encoder_dir, progress=progress)
    else:
        source = minilm_path() if settings.nlu_encoder == "minilm" else Path(settings.nlu_encoder)
        shutil.copytree(source, encoder_dir)
    encoder = load_encoder(encoder_dir)
    progress("3/3 category head on the encoder")
    head = train_head(encoder.encode(texts), labels)
    model = CategoryModel(
        labels=list(ngram.classes_),  # type: ignore[attr-defined]
        ngram=ngram,
        head=head,
        encoder=encoder,
        encoder_weight=ENCODER_WEIGHT,
    )
    model.save(staging)
    meta = {
        "format": MODEL_FORMAT,
        "examples": len(examples),
        "encoder": settings.nlu_encoder,
        "encoder_weight": ENCODER_WEIGHT,
        "seconds": round(time.monotonic() - started, 1),
    }
    (staging / "meta.json").write_text(json.dumps(meta, indent=2), "utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    progress(f"Trained in {meta['seconds']} s: {target}")
    return target, True
