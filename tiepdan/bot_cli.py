"""`tiepdan bot ...`: set up, train, check, evaluate and serve the Rasa assistant (bot/rasa/)."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

import click

from bot import assistant
from core.settings import get_settings
from tiepdan.processes import supervise


@click.group()
def bot() -> None:
    """The Rasa assistant: train, check, evaluate, serve."""


@bot.command("venv")
def bot_venv() -> None:
    """Create Rasa's Python 3.10 environment where the settings say (once per machine)."""
    try:
        click.echo(f"Rasa's environment: {assistant.ensure_venv()}")
    except assistant.RasaNotInstalled as exc:
        raise click.ClickException(str(exc)) from exc


@bot.command("train")
@click.option("--force", is_flag=True, help="Train even when a model for this data exists.")
def bot_train(force: bool) -> None:
    """Train the assistant, unless a model for exactly this data is cached."""
    try:
        assistant.train(force=force, say=click.echo)
    except (assistant.RasaNotInstalled, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc


@bot.command("check")
def bot_check() -> None:
    """`rasa data validate` and the story tests (tests/stories), as CI runs them."""
    sys.exit(assistant.run_checks())


@bot.command("evaluate")
def bot_evaluate() -> None:
    """Per-intent F1 on the held-out set (bot/rasa/tests/nlu), which training never sees."""
    try:
        report = assistant.evaluate()
    except (assistant.RasaNotInstalled, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{'intent':<18} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>4}")
    rows = [(k, v) for k, v in sorted(report.items()) if isinstance(v, dict) and "support" in v]
    for intent, row in [r for r in rows if not r[0].endswith("avg")] + [
        ("macro avg", report["macro avg"])
    ]:
        click.echo(
            f"{intent:<18} {row['precision']:9.3f} {row['recall']:7.3f} "
            f"{row['f1-score']:6.3f} {row['support']:4d}"
        )


@bot.command("serve")
@click.option("--port", type=int, default=None, help="Defaults to the port of TIEPDAN_RASA_URL.")
@click.option(
    "--actions-port", type=int, default=None, help="Defaults to the port of TIEPDAN_ACTIONS_URL."
)
@click.option(
    "--log-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Append Rasa's output to DIR/rasa.log and the action server's to DIR/actions.log "
    "(default: this terminal).",
)
def bot_serve(port: int | None, actions_port: int | None, log_dir: Path | None) -> None:
    """Run the Rasa server and its action server (trains first when needed)."""
    settings = get_settings()
    port = port or urlsplit(settings.rasa_url).port or 5005
    actions_port = actions_port or urlsplit(settings.actions_url).port or 5055
    assistant.train(say=click.echo)
    if settings.rasa_tracker_store_url:
        database = urlsplit(settings.rasa_tracker_store_url).path.strip("/")
        click.echo(f"Rasa keeps conversations in the PostgreSQL database {database!r}.")
    elif settings.environment == "production":
        click.echo(
            "Warning: Rasa keeps conversations in memory, so a restart forgets them. Set "
            "TIEPDAN_RASA_TRACKER_STORE_URL and TIEPDAN_RASA_LOCK_STORE_URL.",
            err=True,
        )
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
    children = [
        assistant.start(
            assistant.actions_command(port=actions_port),
            log=log_dir / "actions.log" if log_dir else None,
        ),
        assistant.start(
            assistant.server_command(port=port), log=log_dir / "rasa.log" if log_dir else None
        ),
    ]
    sys.exit(0 if supervise(children) else 1)
