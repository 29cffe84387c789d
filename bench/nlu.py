"""The NLU benchmark (`make bench-nlu`): our classifier next to Rasa's DIET on the same split.

1. Variants of the category classifier, each trained on nlu/data/train and scored on the
   held-out nlu/data/test: n-grams alone, the English MiniLM frozen with a linear head, MiniLM
   fine-tuned SetFit-style, our static encoder with a head, and the combination in use.
2. The model in use, warm, pinned to one core: per-message latency of category + ward +
   duplicate check, its load time and resident memory (in a fresh process).
3. Rasa 3.6.21's DIET with the recommended pipeline, trained on the same split in its own
   Python 3.10 venv (scripts/rasa-venv.sh), scored on the same test messages through the
   HTTP `/model/parse` of a `rasa run --enable-api` server: the held-out split, then every
   frozen set (new writers, short and long messages, English) next to the model in use,
   overall and by length.

Results go to bench/results/nlu.md. `--quick` trains fewer steps and epochs (a smoke test).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.load import free_port, start, stop
from bot import assistant
from core.settings import get_settings
from nlu import dataset
from nlu.category import CategoryModel, train_head, train_ngram
from nlu.duplicates import OpenTicket
from nlu.encoder import StaticEncoder, TransformerEncoder, minilm_path, train_static_encoder
from nlu.evaluate import SHORT_WORDS, is_short
from nlu.normalize import has_diacritics
from nlu.pipeline import NLU
from nlu.training import ENCODER_WEIGHT, train
from tiepdan.processes import wait_for_url

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "nlu.md"


@dataclass
class Score:
    name: str
    macro_f1: float
    macro_f1_plain: float
    train_seconds: float
    note: str = ""


def macro_f1(truth: list[str], predicted: list[str]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(truth, predicted, average="macro", zero_division=0))


def score(
    name: str,
    truth: list[str],
    predicted: list[str],
    texts: list[str],
    seconds: float,
    note: str = "",
) -> Score:
    plain = [i for i, t in enumerate(texts) if not has_diacritics(t)]
    return Score(
        name=name,
        macro_f1=macro_f1(truth, predicted),
        macro_f1_plain=macro_f1([truth[i] for i in plain], [predicted[i] for i in plain]),
        train_seconds=seconds,
        note=note,
    )


def setfit_minilm(texts: list[str], labels: list[str], output: Path, steps: int) -> Path:
    """MiniLM fine-tuned contrastively on our category pairs (SetFit's first stage)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    random.seed(13)
    torch.manual_seed(13)
    model = SentenceTransformer(str(minilm_path()), device="cpu", local_files_only=True)
    model.max_seq_length = 128  # the first lines of a message; a step costs ~3 s on 2 cores
    loss = MultipleNegativesRankingLoss(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    groups: dict[str, list[str]] = {}
    for text, label in zip(texts, labels, strict=True):
        groups.setdefault(label, []).append(text[:400])
    model.train()
    for step in range(steps):
        pairs = [random.sample(g, 2) for g in groups.values()]
        value = loss(
            [model.preprocess([a for a, _ in pairs]), model.preprocess([p for _, p in pairs])],
            torch.zeros(len(pairs)),
        )
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        if (step + 1) % 50 == 0:
            print(f"  SetFit MiniLM step {step + 1}/{steps}, loss {value.item():.3f}", flush=True)
    model.save(str(output))
    return output


def compare_variants(quick: bool, work: Path) -> list[Score]:
    train_set, test_set = dataset.training_examples(), dataset.test_examples()
    texts, labels = [e.text for e in train_set], [e.category for e in train_set]
    test_texts, truth = [e.text for e in test_set], [e.category for e in test_set]
    scores: list[Score] = []

    def categories_of(head: Any, encoder: Any, encoder_weight: float) -> list[str]:
        model = CategoryModel(
            labels=list(ngram.classes_),
            ngram=ngram if encoder_weight < 1 else None,
            head=head,
            encoder=encoder,
            encoder_weight=encoder_weight,
        )
        return [p.category for p in model.predict_many(test_texts)]

    print("Variant: character n-grams + logistic regression ...", flush=True)
    started = time.monotonic()
    ngram: Any = train_ngram(texts, labels)
    ngram_seconds = time.monotonic() - started
    predicted = categories_of(None, None, 0.0)
    name = "character (inside and across words) + word n-gram TF-IDF, logistic regression"
    scores.append(score(name, truth, predicted, test_texts, ngram_seconds))

    def with_encoder(name: str, encoder: Any, seconds: float, note: str = "") -> None:
        started = time.monotonic()
        head = train_head(encoder.encode(texts), labels)
        total = seconds + time.monotonic() - started
        scores.append(score(name, truth, categories_of(head, encoder, 1.0), test_texts, total))
        print(f"  {name}: macro-F1 {scores[-1].macro_f1:.3f}", flush=True)
        combined = f"combined: n-grams + ({name}), weight {ENCODER_WEIGHT}"
        predicted = categories_of(head, encoder, ENCODER_WEIGHT)
        scores.append(score(combined, truth, predicted, test_texts, total + ngram_seconds, note))

    print("Variant: MiniLM frozen + linear head ...", flush=True)
    with_encoder("MiniLM (English) frozen + linear head", TransformerEncoder(minilm_path()), 0.0)

    steps = 20 if quick else 120
    print(f"Variant: MiniLM fine-tuned SetFit-style ({steps} steps) ...", flush=True)
    started = time.monotonic()
    setfit_dir = setfit_minilm(texts, labels, work / "setfit-minilm", steps)
    with_encoder(
        f"MiniLM fine-tuned contrastively ({steps} steps of 14 pairs) + head",
        TransformerEncoder(setfit_dir),
        time.monotonic() - started,
    )

    static_steps = 500 if quick else 3000
    print(
        f"Variant: static encoder, own vocabulary, contrastive ({static_steps} steps) ...",
        flush=True,
    )
    started = time.monotonic()
    static_dir = train_static_encoder(
        texts, labels, work / "static", steps=static_steps, progress=lambda _line: None
    )
    with_encoder(
        "static encoder (own WordPiece vocabulary, contrastive) + head",
        StaticEncoder(static_dir),
        time.monotonic() - started,
        "in use",
    )
    return scores


def measure_latency(nlu: NLU, texts: list[str], *, keep_features: bool = True) -> dict[str, float]:
    """Warm per-message latency of category + ward + duplicate check, on one core.

    Without `keep_features`, the model forgets a message's features between the category and
    the duplicate check, so each vectorises it: the baseline for what keeping them saves."""
    os.sched_setaffinity(0, {0})
    open_tickets = [
        OpenTicket(f"PA{i:08d}", text, "ha_tang_do_thi", "26743")
        for i, text in enumerate(texts[:50])
    ]
    for text in texts[:50]:
        nlu.analyse(text)
    timings = []
    for text in texts:
        started = time.perf_counter()
        analysis = nlu.analyse(text)
        if not keep_features:
            nlu.category.forget_features()
        nlu.find_duplicate(
            text, category="ha_tang_do_thi", ward_code="26743", open_tickets=open_tickets
        )
        timings.append((time.perf_counter() - started) * 1000)
        del analysis
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return {
        "p50": float(np.percentile(timings, 50)),
        "p95": float(np.percentile(timings, 95)),
        "max": float(max(timings)),
    }


def measure_load(model_path: Path) -> dict[str, float]:
    """Load time and peak resident memory of a fresh process that loads the model and answers.

    The peak is VmHWM, which starts afresh at exec; ru_maxrss would carry over this process's.
    """
    code = (
        "import time, json;"
        "t = time.perf_counter();"
        "from nlu.pipeline import NLU;"
        f"n = NLU(__import__('pathlib').Path({str(model_path)!r}));"
        "n.analyse('Đèn đường hỏng ở phường Bến Thành');"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0];"
        "print(json.dumps({'seconds': time.perf_counter() - t,"
        " 'rss_mb': int(hwm.split()[1]) / 1024}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- Rasa DIET ---------------------------------------------------------------------------------

DIET_CONFIG = """recipe: default.v1
language: vi
pipeline:
  - name: WhitespaceTokenizer
  - name: CountVectorsFeaturizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 4
  - name: DIETClassifier
    epochs: {epochs}
    constrain_similarities: true
policies: []
"""


def _rasa_example(text: str) -> str:
    # Rasa's YAML examples are Markdown-ish: keep each on one line, without entity brackets.
    return (
        text.replace("\n", " ")
        .replace("[", "(")
        .replace("]", ")")
        .replace("{", "(")
        .replace("}", ")")
    )


def run_diet(venv: Path, work: Path, epochs: int, test_texts: list[str]) -> dict[str, object]:
    project = work / "diet"
    (project / "data").mkdir(parents=True, exist_ok=True)
    by_label: dict[str, list[str]] = {}
    for example in dataset.training_examples():
        by_label.setdefault(example.category, []).append(example.text)
    lines = ['version: "3.1"', "nlu:"]
    for label, texts in by_label.items():
        lines.append(f"- intent: {label}")
        lines.append("  examples: |")
        lines += [f"    - {json.dumps(_rasa_example(t), ensure_ascii=False)[1:-1]}" for t in texts]
    (project / "data" / "nlu.yml").write_text("\n".join(lines) + "\n", "utf-8")
    (project / "config.yml").write_text(DIET_CONFIG.format(epochs=epochs), "utf-8")
    (project / "domain.yml").write_text(
        'version: "3.1"\nintents:\n' + "".join(f"  - {label}\n" for label in by_label), "utf-8"
    )
    rasa = str(venv / "bin" / "rasa")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false"}
    print(
        f"DIET: training {epochs} epochs on {sum(map(len, by_label.values()))} messages ...",
        flush=True,
    )
    started = time.monotonic()
    subprocess.run(
        [
            rasa,
            "train",
            "nlu",
            "--config",
            "config.yml",
            "--nlu",
            "data/nlu.yml",
            "--out",
            "models",
            "--fixed-model-name",
            "diet",
        ],
        cwd=project,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    train_seconds = time.monotonic() - started
    port = free_port()
    print(f"DIET: trained in {train_seconds:.0f} s; serving /model/parse on {port} ...", flush=True)
    command = [rasa, "run", "--enable-api", "-m", "models/diet.tar.gz", "--port", str(port)]
    server = start(
        [*command, "--interface", "127.0.0.1"],
        work / "rasa-server.log",
        env=env,
        cwd=project,
    )
    import httpx

    try:
        wait_for_url(f"http://127.0.0.1:{port}/status", [server], timeout=180)
        predicted, timings = [], []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for text in test_texts[:20]:
                client.post("/model/parse", json={"text": text})
            for text in test_texts:
                started = time.perf_counter()
                answer = client.post("/model/parse", json={"text": text}).json()
                timings.append((time.perf_counter() - started) * 1000)
                predicted.append((answer.get("intent") or {}).get("name") or "khac")
    finally:
        stop(server)
    return {
        "predicted": predicted,
        "train_seconds": train_seconds,
        "epochs": epochs,
        "p50": float(np.percentile(timings, 50)),
        "p95": float(np.percentile(timings, 95)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--rasa-venv", type=Path, default=get_settings().rasa_venv)
    parser.add_argument("--diet-epochs", type=int, default=None)
    parser.add_argument("--skip-diet", action="store_true")
    parser.add_argument("--skip-variants", action="store_true")
    args = parser.parse_args(argv)
    args.rasa_venv = args.rasa_venv.resolve()  # Rasa runs in its own project folder
    started = time.monotonic()
    test_set = dataset.test_examples()
    test_texts, truth = [e.text for e in test_set], [e.category for e in test_set]
    frozen = [(title, examples) for title, examples in dataset.frozen_sets() if examples]
    frozen_texts = [e.text for _, examples in frozen for e in examples]

    with tempfile.TemporaryDirectory(prefix="tiepdan-bench-nlu-") as tmp:
        work = Path(tmp)
        variants = [] if args.skip_variants else compare_variants(args.quick, work)

        print("The model in use: training (or reusing) it ...", flush=True)
        model_path, _ = train(get_settings(), progress=lambda _line: None)
        nlu = NLU(model_path)
        ours = [a.category for a in nlu.analyse_many(test_texts)]
        ours_frozen = [p.category for p in nlu.category.predict_many(frozen_texts)]
        ours_score = score("in use (tiepdan nlu train)", truth, ours, test_texts, 0.0)
        latency = measure_latency(nlu, test_texts)
        load = measure_load(model_path)

        diet: dict[str, object] | None = None
        if not args.skip_diet:
            epochs = args.diet_epochs or (5 if args.quick else 20)
            assistant.ensure_venv(get_settings().model_copy(update={"rasa_venv": args.rasa_venv}))
            # The held-out split is the first frozen set, so its answers come first.
            diet = run_diet(args.rasa_venv, work, epochs, frozen_texts)

    report = render(
        args,
        variants,
        ours_score,
        latency,
        load,
        diet,
        truth,
        test_texts,
        time.monotonic() - started,
    )
    report += render_frozen(frozen, ours_frozen, diet)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, "utf-8")
    print(report)
    print(f"Written to {args.output}")
    return 0


def render(
    args: argparse.Namespace,
    variants: list[Score],
    ours: Score,
    latency: dict,
    load: dict,
    diet: dict | None,
    truth: list[str],
    texts: list[str],
    seconds: float,
) -> str:
    plain = sum(1 for t in texts if not has_diacritics(t))
    lines = [
        "# NLU benchmark",
        "",
        f"Run on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with "
        f"`python -m bench.nlu{' --quick' if args.quick else ''}` ({seconds / 60:.1f} min in all). "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}.",
        "",
        f"Training split: {len(dataset.training_examples())} messages (nlu/data/train). "
        f"Test split: {len(texts)} messages written apart (nlu/data/test), {plain} of them "
        "without diacritics.",
        "",
    ]
    if variants:
        lines += [
            "## Category classifiers, held-out macro-F1",
            "",
            "| variant | macro-F1 | without diacritics | training s |",
            "|---|---:|---:|---:|",
        ]
        for v in variants:
            name = f"{v.name} ({v.note})" if v.note else v.name
            lines.append(
                f"| {name} | {v.macro_f1:.3f} | {v.macro_f1_plain:.3f} | {v.train_seconds:.0f} |"
            )
        lines.append("")
    lines += [
        "## The model in use against Rasa's DIET, same test messages",
        "",
        "| | macro-F1 | without diacritics | p50 ms | p95 ms | notes |",
        "|---|---:|---:|---:|---:|---|",
        f"| Tiếp Dân NLU | {ours.macro_f1:.3f} | {ours.macro_f1_plain:.3f} | {latency['p50']:.2f} "
        f"| {latency['p95']:.2f} | category + ward + duplicate check against 50 open tickets, "
        "in process, one core, warm |",
    ]
    if diet is not None:
        predicted = list(diet["predicted"])[: len(texts)]  # type: ignore[call-overload]
        diet_score = score("DIET", truth, predicted, texts, float(diet["train_seconds"]))  # type: ignore[arg-type]
        lines.append(
            f"| Rasa 3.6.21 DIET | {diet_score.macro_f1:.3f} | {diet_score.macro_f1_plain:.3f} | "
            f"{diet['p50']:.2f} | {diet['p95']:.2f} | category only, HTTP `/model/parse` (over "
            "every set's messages); "
            f"{diet['epochs']} epochs, trained in {float(diet['train_seconds']):.0f} s |"  # type: ignore[arg-type]
        )
    lines += [
        "",
        f"Load: a fresh process imports the NLU, loads the model and answers one message in "
        f"{load['seconds']:.2f} s, peak resident memory {load['rss_mb']:.0f} MB.",
        "",
        "DIET's pipeline is Rasa's recommended one: WhitespaceTokenizer, CountVectorsFeaturizer "
        "(words), CountVectorsFeaturizer (`char_wb`, 1–4), DIETClassifier with the categories as "
        "intents.",
    ]
    return "\n".join(lines) + "\n"


def render_frozen(
    frozen: list[tuple[str, list[dataset.Example]]],
    ours: list[str],
    diet: dict | None,
) -> str:
    """Ours next to DIET on every frozen set: macro-F1, and accuracy on short and long messages
    (`nlu.evaluate.SHORT_WORDS`). DIET answered the same messages in the same order."""
    theirs = list(diet["predicted"]) if diet is not None else []  # type: ignore[call-overload]
    lines = [
        "",
        "## Every frozen set, the model in use against DIET",
        "",
        f"Short: {SHORT_WORDS} words or fewer. Accuracy by length (short / long), macro-F1 "
        "overall.",
        "",
        "| set | messages | ours macro-F1 | DIET macro-F1 | ours by length | DIET by length |",
        "|---|---:|---:|---:|---|---|",
    ]
    start = 0
    for title, examples in frozen:
        end = start + len(examples)
        ours_f1, ours_length = _figures(examples, ours[start:end])
        diet_f1, diet_length = _figures(examples, theirs[start:end])
        lines.append(
            f"| {title} | {len(examples)} | {ours_f1} | {diet_f1} | {ours_length} | {diet_length} |"
        )
        start = end
    return "\n".join(lines) + "\n"


def _figures(examples: list[dataset.Example], predicted: list[str]) -> tuple[str, str]:
    """Macro-F1, and "short / long" accuracy, as table cells ("-" without predictions)."""
    if not predicted:
        return "-", "-"
    truth = [e.category for e in examples]
    short = [is_short(e.text) for e in examples]
    by_length = []
    for wanted in (True, False):
        rows = [i for i, is_short in enumerate(short) if is_short == wanted]
        by_length.append(
            f"{np.mean([truth[i] == predicted[i] for i in rows]):.3f}" if rows else "-"
        )
    return f"{macro_f1(truth, predicted):.3f}", " / ".join(by_length)


if __name__ == "__main__":
    sys.exit(main())
