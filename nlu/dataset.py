"""The labelled messages: the project's own (nlu/data/) and what operators import.

- `nlu/data/train/<category>.txt`: one message per line, the file name is the label (the first
  writers' brief); `train/genres/`, `train/short/`, `train_en/` and `train_en/short/` the same,
  by later writers: Zalo, Facebook, hotline notes, petitions, firms' letters, telex leftovers,
  mixed language; short phone-typed messages; English, long and short.
- `nlu/data/test/<category>.txt`: the held-out split, written apart; never trained on.
- `nlu/data/unseen/test.jsonl` (`{"text", "category", "genre"}`), `nlu/data/short/test.jsonl`
  (short and long messages by the same writers) and `nlu/data/english/test.jsonl`: frozen sets
  by writers who never saw the training data (nlu/data/README.md).
- `<extra dir>/*.jsonl`: `{"text", "category"}` lines from `tiepdan nlu import` (a 1022 export) and
  from tickets that staff re-categorised. Retraining adds them to the training split.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DATA_DIR = Path(__file__).resolve().parent / "data"
TAXONOMY_FILE = Path(__file__).resolve().parent / "taxonomy.yaml"


# The training split's parts, each from its own writers. Calibration holds out one writer
# group at a time (nlu/training.py), so confidence is measured on writing the model never saw.
TRAINING_SOURCES = {
    "brief": "train",
    "genres": "train/genres",
    "short": "train/short",
    "english": "train_en",
    "short_en": "train_en/short",
}
UNSEEN_FILE = DATA_DIR / "unseen" / "test.jsonl"
SHORT_TEST_FILE = DATA_DIR / "short" / "test.jsonl"
ENGLISH_TEST_FILE = DATA_DIR / "english" / "test.jsonl"
LENGTHS_TEST_FILE = DATA_DIR / "lengths" / "test.jsonl"


@dataclass(frozen=True)
class Example:
    text: str
    category: str
    # Which writers: a key of TRAINING_SOURCES, "extra" for imports, or a test set's genre.
    source: str = field(default="", compare=False)


def categories() -> list[str]:
    """Category codes in taxonomy order."""
    taxonomy = yaml.safe_load(TAXONOMY_FILE.read_text(encoding="utf-8"))
    return list(taxonomy["categories"])


def read_split(directory: Path, source: str = "") -> list[Example]:
    """Every `<category>.txt` in a directory; an unknown category is an error, not a new label."""
    known = set(categories())
    examples = []
    for path in sorted(directory.glob("*.txt")):
        if path.stem not in known:
            raise ValueError(f"{path}: '{path.stem}' is not a category of taxonomy.yaml")
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                examples.append(Example(text=line.strip(), category=path.stem, source=source))
    return examples


def read_jsonl(path: Path, source: str = "") -> list[Example]:
    """`{"text", "category"}` lines (the format of `--data` files and of imported examples); a
    line's `genre`, where it has one, becomes the example's source."""
    known = set(categories())
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("category") not in known:
            raise ValueError(f"{path}:{number}: unknown category {row.get('category')!r}")
        examples.append(
            Example(
                text=str(row["text"]),
                category=row["category"],
                source=str(row.get("genre") or source),
            )
        )
    return examples


def read_examples(path: Path) -> list[Example]:
    """A split directory, or a JSON-lines file."""
    return read_split(path) if path.is_dir() else read_jsonl(path)


def training_examples(extra_dir: Path | None = None) -> list[Example]:
    examples = []
    for source, folder in TRAINING_SOURCES.items():
        if (DATA_DIR / folder).is_dir():
            examples.extend(read_split(DATA_DIR / folder, source))
    if extra_dir is not None and extra_dir.is_dir():
        for path in sorted(extra_dir.glob("*.jsonl")):
            examples.extend(read_jsonl(path, "extra"))
    return examples


def test_examples() -> list[Example]:
    return read_split(DATA_DIR / "test", "test")


def unseen_examples() -> list[Example]:
    """The frozen set by new writers, each example's source its genre (zalo, facebook, ...)."""
    return read_jsonl(UNSEEN_FILE) if UNSEEN_FILE.is_file() else []


def short_test_examples() -> list[Example]:
    """The frozen set of short phone-typed messages, with long ones by the same writers."""
    return read_jsonl(SHORT_TEST_FILE) if SHORT_TEST_FILE.is_file() else []


def lengths_test_examples() -> list[Example]:
    """The second frozen set of short and long messages, by three more writers."""
    return read_jsonl(LENGTHS_TEST_FILE) if LENGTHS_TEST_FILE.is_file() else []


def english_test_examples() -> list[Example]:
    return read_jsonl(ENGLISH_TEST_FILE, "english") if ENGLISH_TEST_FILE.is_file() else []


def frozen_sets() -> list[tuple[str, list[Example]]]:
    """The sets written apart, with their titles: what `tiepdan nlu evaluate` and
    `make bench-nlu` report on."""
    return [
        ("Held-out split (nlu/data/test, the training brief's writers)", test_examples()),
        ("New writers (nlu/data/unseen), by genre", unseen_examples()),
        ("Short and long by the same writers (nlu/data/short), by genre", short_test_examples()),
        (
            "Short and long, a second set by three writers (nlu/data/lengths)",
            lengths_test_examples(),
        ),
        ("English from the firms (nlu/data/english)", english_test_examples()),
    ]


def fingerprint(examples: Iterable[Example], *settings: object) -> str:
    """A hash of the training data and settings: the same hash means the same model."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(f"{example.category}\t{example.text}\n".encode())
    digest.update(repr(settings).encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class ImportReport:
    imported: int
    skipped: list[str]


def import_csv(source: Path, target: Path) -> ImportReport:
    """Turn a CSV export of past tickets (columns `text` and `category`) into training examples.

    Rows with an empty text or an unknown category are skipped and reported by line, so an
    operator can fix the export; the rest are written to `target` (JSON lines).
    """
    known = set(categories())
    kept: list[dict[str, str]] = []
    skipped: list[str] = []
    with source.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        fields = {name.strip().lower() for name in reader.fieldnames or []}
        if not {"text", "category"} <= fields:
            raise ValueError(f"{source}: the CSV needs the columns 'text' and 'category'")
        for number, row in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            if not row["text"]:
                skipped.append(f"line {number}: empty text")
            elif row["category"] not in known:
                skipped.append(f"line {number}: unknown category {row['category']!r}")
            else:
                kept.append({"text": row["text"], "category": row["category"]})
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as out:
        for row in kept:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return ImportReport(imported=len(kept), skipped=skipped)
