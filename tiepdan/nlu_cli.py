"""`tiepdan nlu ...`: train, evaluate, predict, and import past tickets as training data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

import click

from core.settings import get_settings
from nlu.language import detect_language


@click.group()
def nlu() -> None:
    """The Vietnamese NLU: categories, wards, duplicates, FAQ."""


@nlu.command("train")
@click.option("--force", is_flag=True, help="Retrain even if this data's model exists.")
def train(force: bool) -> None:
    """Train the model for the current data (skipped when it is already trained)."""
    from nlu.training import train as train_model

    train_model(get_settings(), force=force, progress=lambda line: click.echo(line, err=True))


def _load() -> Any:
    from nlu.pipeline import ModelNotTrained, get_nlu

    try:
        return get_nlu()
    except ModelNotTrained as exc:
        raise click.ClickException(str(exc)) from exc


@nlu.command("evaluate")
@click.option(
    "--data",
    "data",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="A folder of <category>.txt files or a JSON-lines file of {text, category[, genre]}. "
    "Defaults to the held-out split, the new writers' set by genre, the short messages' set and "
    "the English set, and "
    "then also scores wards, duplicates and the FAQ.",
)
def evaluate(data: Path | None) -> None:
    """Per-category precision, recall and F1, macro-F1 and the confusion matrix."""
    from nlu import dataset
    from nlu.evaluate import evaluate_categories, evaluate_duplicates, evaluate_faq, evaluate_wards

    model = _load()
    threshold = model.triage_threshold()
    if data is not None:
        click.echo(evaluate_categories(model, dataset.read_examples(data), threshold).render())
        return
    for title, examples in dataset.frozen_sets():
        if examples:
            click.echo(f"== {title}")
            click.echo(evaluate_categories(model, examples, threshold).render())
            click.echo("")
    click.echo(evaluate_wards().render())
    click.echo("")
    click.echo(evaluate_duplicates(model.duplicates).render())
    click.echo("")
    click.echo(evaluate_faq(model.faq_index()).render())


@nlu.command("predict")
@click.option("--input", "source", type=click.File("r", encoding="utf-8"), default="-")
@click.option("--output", "target", type=click.File("w", encoding="utf-8"), default="-")
def predict(source: TextIO, target: TextIO) -> None:
    """JSON lines {"id", "text"} in, one JSON line out per line in, in order."""
    from feedback.routing import RuleBook

    model = _load()
    rules = RuleBook.from_file(get_settings().province_file)
    for number, line in enumerate(source, start=1):
        if not line.strip():
            target.write(json.dumps({"id": None, "error": f"line {number}: empty line"}) + "\n")
            continue
        target.write(
            json.dumps(predict_line(model, rules, line, number), ensure_ascii=False) + "\n"
        )
        target.flush()


def predict_line(model: Any, rules: Any, line: str, number: int) -> dict[str, Any]:
    """One output line for one input line; bad input gives an error line, never an exception."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"id": None, "error": f"line {number}: not JSON ({exc.msg})"}
    if not isinstance(row, dict):
        return {"id": None, "error": f"line {number}: expected an object with 'id' and 'text'"}
    text = row.get("text")
    if not isinstance(text, str):
        return {"id": row.get("id"), "error": f"line {number}: 'text' must be a string"}
    analysis = model.analyse(text)
    ward = analysis.ward.as_dict() if analysis.ward else None
    ward_code = analysis.ward.code if analysis.ward else None
    agency = rules.agency_for(analysis.category, ward_code)
    return {
        "id": row.get("id"),
        "category": analysis.category,
        "category_confidence": round(analysis.category_confidence, 4),
        "agency": agency,
        "ward": ward,
        "triage": would_triage(model, analysis, agency),
        "language": detect_language(text),
    }


def would_triage(model: Any, analysis: Any, agency: str | None) -> bool:
    """Whether routing, under the settings in force, sends this to the dispatchers' triage
    queue rather than to an agency: feedback/routing.py keeps the predicted category only when
    the NLU routes on it (nlu/pipeline.py: at the triage threshold or above),
    and TIEPDAN_CLASSIFIER=none predicts nothing."""
    if get_settings().classifier == "none":
        return True
    return not model.routes(analysis) or agency is None


@nlu.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_csv(csv_file: Path) -> None:
    """Add a CSV export of past tickets (columns text, category) to the training data."""
    from nlu.dataset import import_csv as do_import

    settings = get_settings()
    assert settings.nlu_extra_dir is not None
    target = settings.nlu_extra_dir / f"import-{csv_file.stem}.jsonl"
    try:
        report = do_import(csv_file, target)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    for problem in report.skipped[:20]:
        click.echo(f"skipped {problem}", err=True)
    if len(report.skipped) > 20:
        click.echo(f"... and {len(report.skipped) - 20} more skipped", err=True)
    click.echo(
        f"Imported {report.imported} examples into {target} ({len(report.skipped)} skipped). "
        "Run `tiepdan nlu train` to retrain with them."
    )


@nlu.command("export-corrections")
def export_corrections() -> None:
    """Write tickets whose category staff changed as training examples (then retrain)."""
    from core.database import session_scope
    from feedback.queries import category_corrections

    settings = get_settings()
    assert settings.nlu_extra_dir is not None
    target = settings.nlu_extra_dir / "corrections.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with session_scope() as session, target.open("w", encoding="utf-8") as out:
        for description, category in category_corrections(session):
            out.write(json.dumps({"text": description, "category": category}, ensure_ascii=False))
            out.write("\n")
            count += 1
    click.echo(f"Wrote {count} re-categorised tickets to {target}. Run `tiepdan nlu train`.")
