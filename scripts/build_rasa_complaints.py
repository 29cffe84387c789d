"""Write bot/rasa/data/nlu/complaint.yml: `file_complaint` examples from the NLU's training split.

The NLU's category corpus (nlu/data/train/) is already a spread of reports over every category,
written in the ways people write. Rasa only needs to tell a report from the other intents, so a
fixed sample of it, the same on every run, is its `file_complaint` data. Proposals ("đề nghị",
"nên ...") are left out, since they are `give_suggestion`'s; `khac` is left out, since its lines
are often not reports at all. Rasa's held-out set never draws from nlu/data/.

Usage: python scripts/build_rasa_complaints.py
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from nlu.normalize import fold

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "nlu" / "data" / "train"
TARGET = ROOT / "bot" / "rasa" / "data" / "nlu" / "complaint.yml"
PER_CATEGORY = 15
MAX_LENGTH = 300
SUGGESTION_START = re.compile(r"^(de nghi|kien nghi|gop y|de xuat|nen |xin de xuat|toi de xuat)")


def usable(line: str) -> bool:
    return (
        0 < len(line) <= MAX_LENGTH
        and not line.startswith("/")
        and not any(ch in line for ch in "[]{}")
        and not SUGGESTION_START.match(fold(line))
    )


def main() -> None:
    rng = random.Random(20261126)
    lines: list[str] = []
    for path in sorted(SOURCE.glob("*.txt")):
        if path.stem == "khac":
            continue
        candidates = [s.strip() for s in path.read_text(encoding="utf-8").splitlines()]
        candidates = [s for s in candidates if usable(s)]
        lines += rng.sample(candidates, PER_CATEGORY)
    body = "\n".join(f"    - {line}" for line in lines)
    TARGET.write_text(
        "# Generated from nlu/data/train/ by scripts/build_rasa_complaints.py: do not edit.\n"
        'version: "3.1"\nnlu:\n- intent: file_complaint\n  examples: |\n' + body + "\n",
        encoding="utf-8",
    )
    print(f"{len(lines)} examples -> {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
