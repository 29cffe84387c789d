"""The NLU on writers it never read (`make bench-nlu`, first step; about a minute).

The model in use (trained if needed) is scored on four frozen sets: the held-out split written
with the training brief (nlu/data/test), the new writers' set by genre (nlu/data/unseen), short
phone-typed messages with long ones by the same writers (nlu/data/short), and English from the
firms (nlu/data/english); each overall, by genre, by length, with and without diacritics, and
as the precision of automatic routing against the share sent to triage. The
FAQ's precision is measured on questions written apart (nlu/data/faq_unseen.jsonl). Latency
is per message (category, ward, duplicate check) on one core, warm.

Results go to bench/results/nlu-sets.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.nlu import measure_latency
from core.settings import get_settings
from nlu import dataset
from nlu.evaluate import evaluate_categories, evaluate_faq
from nlu.pipeline import NLU
from nlu.training import train

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "nlu-sets.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    settings = get_settings()
    path, _ = train(settings, progress=lambda line: print(line, file=sys.stderr))
    nlu = NLU(path)
    threshold = nlu.triage_threshold(settings)
    lines = [
        "# The NLU on writers it never read",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.processor() or platform.machine()}, "
        f"model {path.name}, {len(dataset.training_examples(settings.nlu_extra_dir))} training "
        f"messages. Triage threshold {threshold:.2f} (the model's own for "
        f"TIEPDAN_TRIAGE_PRECISION={settings.triage_precision}, chosen on writers held out "
        "in training; TIEPDAN_TRIAGE_THRESHOLD unset). `python -m bench.nlu_sets` redoes it.",
        "",
    ]
    texts: list[str] = []
    for title, examples in dataset.frozen_sets():
        report = evaluate_categories(nlu, examples, threshold)
        texts += [e.text for e in examples]
        lines += [f"## {title}", "", "```", report.render(), "```", ""]
    faq = evaluate_faq(nlu.faq_index(), dataset.DATA_DIR / "faq_unseen.jsonl")
    lines += ["## FAQ on questions written apart", "", "```", faq.render(), "```", ""]
    latency = measure_latency(nlu, texts)
    baseline = measure_latency(nlu, texts, keep_features=False)
    lines += [
        "## Latency",
        "",
        f"Per message on one core, warm, {len(texts)} messages: p50 {latency['p50']:.2f} ms, "
        f"p95 {latency['p95']:.2f} ms, max {latency['max']:.1f} ms.",
        "",
        "Keeping a message's features from its category to its duplicate check: against "
        "vectorising it for each (the baseline, measured next in the same process: p50 "
        f"{baseline['p50']:.2f} ms, p95 {baseline['p95']:.2f} ms), p50 "
        f"{latency['p50'] / baseline['p50']:.2f}× and p95 {latency['p95'] / baseline['p95']:.2f}× "
        "the time.",
        "",
    ]
    args.output.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
