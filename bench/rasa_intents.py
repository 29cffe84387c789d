"""Rasa's intents on the two held-out sets and on the two tuning sets (`make bench-nlu`,
last step; about a minute with the model cached, two more when the data changed).

`rasa test nlu` on bot/rasa/tests/nlu and bot/rasa/tests/nlu_second (written apart, never
trained on) and on bot/rasa/tune/teencode.yml and writers.yml (the teen-code and the later
writers' training examples were judged on them), through bot.assistant.evaluate: precision,
recall and F1 per intent, and the first held-out set's confusion matrix, built from Rasa's
report (the support of each intent) and its list of errors (each wrong prediction).

Results go to bench/results/rasa-intents.md.
"""

from __future__ import annotations

import argparse
import json
import platform
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import assistant
from core.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "rasa-intents.md"
SUMMARY_ROWS = ("macro avg", "weighted avg", "micro avg", "accuracy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    settings = get_settings()
    report = assistant.evaluate(settings)
    errors_file = assistant.evaluation_dir(settings) / "intent_errors.json"
    errors = json.loads(errors_file.read_text()) if errors_file.is_file() else []  # none wrong
    second = assistant.evaluate(settings, assistant.SECOND_HELD_OUT)
    teen = assistant.evaluate(settings, assistant.TEEN_CODE)
    writers = assistant.evaluate(settings, assistant.WRITERS_TUNE)
    text = render(report, errors, model=assistant.model_path(settings).name)
    text += render_set(
        second,
        "A second held-out set (bot/rasa/tests/nlu_second)",
        "Written on 2026-12-05 by a writer who saw only the taxonomy's intents, never the "
        "training data; a fifth in English. Lines within 0.8 (Jaccard of character 4-grams) of a "
        "training, tuning or held-out line were left out, so most one-word greetings and "
        "yeses are not here.",
    )
    text += render_set(
        teen,
        "Chat teen-code (bot/rasa/tune/teencode.yml, a tuning set)",
        "Written apart from the training data, in chat shorthand (hk, rùi, mik, cx, uk gửi lun). "
        "The teen-code training examples (data/nlu/teencode.yml) were judged on it, so its "
        "figures flatter the model.",
    )
    text += render_set(
        writers,
        "Later writers (bot/rasa/tune/writers.yml, a tuning set)",
        "Older people writing formally, workers typing fast without diacritics, shop owners, "
        "and a fifth in English, by a writer who saw only the taxonomy and the bot's responses. "
        "The examples of data/nlu/writers.yml were judged on it, so its figures flatter the "
        "model.",
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(text)
    print(f"Written to {args.output}")
    return 0


def confusion(report: dict[str, Any], errors: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Rows: the true intent; columns: the predicted one. Rasa lists only the errors: the
    diagonal is each intent's support less its errors."""
    intents = [name for name, row in report.items() if isinstance(row, dict) and "support" in row]
    rows = {name: Counter[str]() for name in intents if name not in SUMMARY_ROWS}
    for error in errors:
        rows.setdefault(error["intent"], Counter())[error["intent_prediction"]["name"]] += 1
    for name, row in rows.items():
        support = int(report.get(name, {}).get("support", 0))
        row[name] = support - sum(row.values())
    return rows


def per_intent(report: dict[str, Any]) -> list[str]:
    lines = ["| intent | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for name in sorted(k for k, v in report.items() if isinstance(v, dict) and "support" in v):
        if name in SUMMARY_ROWS:
            continue
        row = report[name]
        lines.append(
            f"| {name} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1-score']:.3f} "
            f"| {int(row['support'])} |"
        )
    return lines


def render_set(report: dict[str, Any], title: str, about: str) -> str:
    macro = report["macro avg"]
    lines = [
        "",
        f"## {title}",
        "",
        about,
        "",
        f"Macro-F1 **{macro['f1-score']:.3f}** (precision {macro['precision']:.3f}, recall "
        f"{macro['recall']:.3f}), {int(macro['support'])} messages.",
        "",
        *per_intent(report),
        "",
    ]
    return "\n".join(lines)


def render(report: dict[str, Any], errors: list[dict[str, Any]], *, model: str) -> str:
    matrix = confusion(report, errors)
    intents = sorted(matrix)
    columns = sorted({*intents, *(p for row in matrix.values() for p in row)})
    macro = report["macro avg"]
    lines = [
        "# Rasa's intents on the held-out set",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, model {model}. "
        "`python -m bench.rasa_intents` redoes it (`rasa test nlu` on bot/rasa/tests/nlu, "
        "written apart from the training data and never trained on).",
        "",
        f"Macro-F1 **{macro['f1-score']:.3f}** (precision {macro['precision']:.3f}, recall "
        f"{macro['recall']:.3f}), {sum(int(report[i]['support']) for i in intents)} messages, "
        f"{len(errors)} wrong.",
        "",
        *per_intent(report),
    ]
    width = max(len(c) for c in columns)
    lines += [
        "",
        "## Confusion matrix",
        "",
        "Rows: the intent written; columns: the intent Rasa chose (first letters of its name).",
        "",
        "```",
        " " * width + " " + " ".join(f"{c[:6]:>6}" for c in columns),
    ]
    for name in intents:
        counts = " ".join(f"{matrix[name][c]:>6}" for c in columns)
        lines.append(f"{name:<{width}} {counts}")
    lines += ["```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
