"""The `tiepdan` command line."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import click

from core.errors import AppError
from core.logging import configure_logging
from core.settings import get_settings
from tiepdan.bot_cli import bot
from tiepdan.ioc_cli import apikey, kpi, report
from tiepdan.nlu_cli import nlu
from tiepdan.processes import NotServing, supervise, wait_for_url
from tiepdan.telegram_cli import telegram
from tiepdan.zalo_cli import zalo


@click.group()
def main() -> None:
    """Tiếp Dân: citizen feedback platform. Settings come from TIEPDAN_* variables."""
    configure_logging()


main.add_command(nlu)
main.add_command(bot)
main.add_command(telegram)
main.add_command(zalo)
main.add_command(apikey)
main.add_command(kpi)
main.add_command(report)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Defaults to $PORT, then 8000.")
@click.option("--workers", type=int, default=1, show_default=True)
def serve(host: str, port: int | None, workers: int) -> None:
    """Serve the HTTP API, web chat and admin panel."""
    import uvicorn

    from core.metrics import clean_dir

    clean_dir()  # the metric files of processes gone since the last start

    uvicorn.run(
        "tiepdan.app:create_app",
        factory=True,
        host=host,
        port=port or get_settings().port,
        workers=workers,
        log_level="info",
    )


def _worker_argv(with_beat: bool) -> list[str]:
    settings = get_settings()
    argv = ["worker", "--loglevel=INFO", "-Q", settings.task_queue]
    if settings.is_embedded_broker:
        # One process: SQLite has a single writer, and the embedded mode is for one machine.
        argv += ["--pool=solo"]
    if with_beat:
        argv += ["--beat", f"--schedule={settings.var_dir / 'celerybeat-schedule'}"]
    return argv


@main.command()
@click.option("--beat/--no-beat", default=False, help="Run the periodic jobs in this worker too.")
def worker(beat: bool) -> None:
    """Run a Celery worker (and, with --beat, the periodic jobs)."""
    from core.metrics import clean_dir
    from tiepdan.worker import app

    clean_dir()

    app.worker_main(_worker_argv(beat))


@main.command()
def beat() -> None:
    """Run Celery beat: SLA warnings, overdue escalation, stale-routing sweeps."""
    from tiepdan.worker import app

    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    app.start(["beat", "--loglevel=INFO", f"--schedule={settings.var_dir / 'celerybeat-schedule'}"])


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply the migrations up to REVISION (default: head)."""
    from tiepdan.db import upgrade

    upgrade(revision=revision)
    click.echo(f"Database at {revision}.")


@main.command()
@click.option("--demo", is_flag=True, help="Also create demo staff accounts and tickets.")
@click.option("--province", "province_file", type=click.Path(exists=True, path_type=Path))
def seed(demo: bool, province_file: Path | None) -> None:
    """Load the province configuration (idempotent); --demo adds demo logins."""
    from core.database import session_scope
    from feedback.province import default_province_file, load_province
    from feedback.seed import seed_demo, seed_province

    settings = get_settings()
    path = province_file or settings.province_file or default_province_file()
    config = load_province(path)
    from feedback.configuration import seed_faq

    with session_scope() as session:
        report = seed_province(session, config=config)
        faq_entries = seed_faq(session, path=settings.faq_file)
        accounts = []
        if demo:
            if settings.environment == "production":
                raise click.UsageError("Refusing to create demo accounts in production.")
            accounts = seed_demo(session)
    if report.changed:
        click.echo(
            f"Seeded {config.province.name}: created {report.created or '{}'}, "
            f"updated {report.updated or '{}'}, deleted {report.deleted or '{}'}."
        )
    else:
        click.echo(f"{config.province.name}: already up to date.")
    if faq_entries:
        click.echo(
            f"  FAQ: {faq_entries} questions copied from the FAQ file (edit them in /admin)."
        )
    for username, password, role in accounts:
        click.echo(f"  demo login  {username:<10} / {password:<20} {role}")


@main.group()
def user() -> None:
    """Staff accounts."""


@user.command("create")
@click.option("--username", required=True)
@click.option("--password", required=True, prompt=True, hide_input=True)
@click.option(
    "--role",
    required=True,
    type=click.Choice(["admin", "dispatcher", "agency_staff", "viewer"]),
)
@click.option("--agency", "agency_code", default=None, help="Agency code, for agency_staff.")
@click.option("--full-name", default=None)
def user_create(
    username: str, password: str, role: str, agency_code: str | None, full_name: str | None
) -> None:
    """Create a staff user."""
    from core.database import session_scope
    from feedback.auth import create_user
    from feedback.models import StaffRole

    try:
        with session_scope() as session:
            create_user(
                session,
                username=username,
                password=password,
                role=StaffRole(role),
                agency_code=agency_code,
                full_name=full_name,
            )
    except AppError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Created {role} '{username}'" + (f" of {agency_code}." if agency_code else "."))


def _wait_until_serving(url: str, children: list[subprocess.Popen[bytes]]) -> None:
    """Wait for the API to answer, so the banner comes after the start-up noise."""
    with contextlib.suppress(NotServing):
        wait_for_url(url, children, timeout=60, probe_timeout=1)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Defaults to $PORT, then 8000.")
def run(host: str, port: int | None) -> None:
    """Migrate, seed the demo, and start the API, a worker with beat, and Rasa (embedded mode)."""
    settings = get_settings()
    port = port or settings.port
    # Every child derives the API's address from PORT (Rasa's action server calls it there).
    env = {**os.environ, "PORT": str(port)}
    tiepdan = [sys.executable, "-m", "tiepdan"]
    click.echo("Migrating the database ...")
    subprocess.run([*tiepdan, "db", "upgrade"], check=True, env=env)
    click.echo("Loading the province and the demo accounts ...")
    subprocess.run([*tiepdan, "seed", "--demo"], check=True, env=env)
    if settings.classifier == "nlu":
        click.echo("Training the NLU if this data has no model yet (about a minute, once) ...")
        subprocess.run([*tiepdan, "nlu", "train"], check=True, env=env)
    children = [
        subprocess.Popen([*tiepdan, "worker", "--beat"], env=env),
        subprocess.Popen([*tiepdan, "serve", "--host", host, "--port", str(port)], env=env),
    ]
    click.echo("Preparing the Rasa assistant (its environment and model are built once) ...")
    rasa_ready = subprocess.run([*tiepdan, "bot", "train"], env=env, check=False).returncode == 0
    if rasa_ready:
        children.append(subprocess.Popen([*tiepdan, "bot", "serve"], env=env))
    else:
        click.echo(
            "Rasa is not available (see above). The platform runs without it: the chat stores "
            "every message, answers with an acknowledgement and files reports as tickets.",
            err=True,
        )
    base = f"http://{host}:{port}"
    _wait_until_serving(f"{base}/healthz", children)
    click.echo(
        f"\nTiếp Dân is running on {base}\n"
        f"  web page     {base}/\n"
        f"  API docs     {base}/docs\n"
        f"  readiness    {base}/readyz\n"
        f"  Rasa         {settings.rasa_url if rasa_ready else 'not running'}\n"
        f"  database     {settings.database_url}\n"
        "  demo logins  admin / admin-demo-123, dieuphoi / dieuphoi-demo-123 (more above)\n"
        "Stop with Ctrl+C.\n"
    )
    sys.exit(0 if supervise(children) else 1)
