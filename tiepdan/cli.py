"""The `tiepdan` command line."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from core.errors import AppError
from core.logging import configure_logging
from core.settings import get_settings
from tiepdan.bot_cli import bot
from tiepdan.contact_cli import contact
from tiepdan.ioc_cli import apikey, kpi, report
from tiepdan.nlu_cli import nlu
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
main.add_command(contact)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Defaults to $PORT, then 8000.")
@click.option("--workers", type=int, default=1, show_default=True)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="A line per HTTP request (`tiepdan run` turns it off).",
)
def serve(host: str, port: int | None, workers: int, access_log: bool) -> None:
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
        access_log=access_log,
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


@db.command("check")
def db_check() -> None:
    """Exit 0 when the database is at the newest migration, 1 otherwise (after a restore)."""
    from tiepdan.db import current_revision, head_revision

    current, head = current_revision(), head_revision()
    if current != head:
        click.echo(
            f"Database at {current or 'no revision'}, code at {head}: run tiepdan db upgrade"
        )
        sys.exit(1)
    click.echo(f"Database at head ({head}).")


@db.command("counts")
def db_counts() -> None:
    """Print every table's row count, one 'table<TAB>rows' a line (compare two with diff)."""
    from tiepdan.db import row_counts

    for name, rows in row_counts().items():
        click.echo(f"{name}\t{rows}")


@main.command()
@click.option("--demo", is_flag=True, help="Also create the demo staff logins.")
@click.option(
    "--demo-tickets",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Add N demo tickets filed over the 90 days before today, marked as demo.",
)
@click.option(
    "--demo-seed",
    type=int,
    default=None,
    help="The random seed of --demo-tickets: the same seed on the same day gives the same tickets.",
)
@click.option(
    "--remove-demo-tickets",
    is_flag=True,
    help="Remove every demo ticket, with its history, ratings, notices, photos and contacts.",
)
@click.option("--province", "province_file", type=click.Path(exists=True, path_type=Path))
def seed(
    demo: bool,
    demo_tickets: int,
    demo_seed: int | None,
    remove_demo_tickets: bool,
    province_file: Path | None,
) -> None:
    """Load the province configuration (idempotent); --demo adds the demo logins, and
    --demo-tickets N a story of N demo tickets (neither in production)."""
    from core.database import session_scope
    from feedback import reply_templates
    from feedback.configuration import seed_faq
    from feedback.province import default_province_file, load_province
    from feedback.seed import seed_demo, seed_province

    settings = get_settings()
    if (demo or demo_tickets) and settings.environment == "production":
        raise click.UsageError("Refusing to create demo logins or tickets in production.")
    path = province_file or settings.province_file or default_province_file()
    config = load_province(path)

    with session_scope() as session:
        report = seed_province(session, config=config)
        faq_entries = seed_faq(session, path=settings.faq_file)
        templates = reply_templates.seed(session)
        accounts = seed_demo(session) if demo else []
    if report.changed:
        click.echo(
            f"Seeded {config.province.name}: created {report.created or '{}'}, "
            f"updated {report.updated or '{}'}, deleted {report.deleted or '{}'}."
        )
    else:
        click.echo(f"{config.province.name}: already up to date.")
    if faq_entries:
        click.echo(
            f"  FAQ: {faq_entries} questions copied from the FAQ file, or given its English "
            "answer (edit them in /admin)."
        )
    if templates:
        click.echo(f"  Reply templates: {templates} copied from the shipped file (edit in /admin).")
    for username, password, role in accounts:
        click.echo(f"  demo login  {username:<10} / {password:<20} {role}")
    if remove_demo_tickets:
        _remove_demo_tickets()
    if demo_tickets:
        _add_demo_tickets(demo_tickets, demo_seed)


def _add_demo_tickets(count: int, seed: int | None) -> None:
    import time

    from core.database import session_scope
    from feedback.classifier import get_classifier
    from feedback.demo import create_demo_tickets, local_days

    started = time.monotonic()
    classifier = get_classifier(get_settings().classifier)

    def progress(made: int) -> None:
        if made % 25 == 0 and made < count:  # `tiepdan run` shows the last line as progress
            click.echo(f"{made}/{count} demo tickets")

    with session_scope() as session:
        made = create_demo_tickets(
            session, count=count, classifier=classifier, seed=seed, progress=progress
        )
    first, last = local_days(datetime.now(UTC))
    statuses = ", ".join(f"{n} {status}" for status, n in made.statuses.most_common())
    click.echo(
        f"Added {made.count} demo tickets filed from {first:%d/%m/%Y} to {last:%d/%m/%Y} in "
        f"{time.monotonic() - started:.0f} s: {statuses}; {made.overdue} open past their "
        f"deadline, {made.rated} rated. Remove them with: tiepdan seed --remove-demo-tickets"
    )


def _remove_demo_tickets() -> None:
    from core.database import session_scope
    from feedback.demo import remove_demo_tickets

    with session_scope() as session:
        removal = remove_demo_tickets(session)
    removal.delete_files()  # only once the rows are gone for good
    click.echo(
        f"Removed {removal.tickets} demo tickets, {removal.contacts} demo contacts and "
        f"{len(removal.files)} photos."
    )


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


@user.command("unlock")
@click.argument("username")
def user_unlock(username: str) -> None:
    """Lift the lock on an account after too many wrong passwords (when no admin can sign in
    to do it in the panel)."""
    from core.database import session_scope
    from feedback.auth import SYSTEM
    from feedback.staff import unlock_user, user_id_of

    try:
        with session_scope() as session:
            unlock_user(session, principal=SYSTEM, user_id=user_id_of(session, username))
    except AppError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"Unlocked '{username}'.")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=None, help="Defaults to $PORT, then 8000.")
@click.option(
    "--verbose",
    is_flag=True,
    help="Stream every step's and every process's output here instead of var/log/.",
)
@click.option(
    "--demo-tickets",
    type=click.IntRange(min=0),
    default=300,
    show_default=True,
    metavar="N",
    help="Demo tickets to add when this run creates the database (0: none).",
)
def run(host: str, port: int | None, verbose: bool, demo_tickets: int) -> None:
    """Migrate, seed the demo, and start the API, a worker with beat, and Rasa (embedded mode)."""
    from tiepdan.launcher import run_locally

    port = port or get_settings().port
    sys.exit(run_locally(host=host, port=port, verbose=verbose, demo_tickets=demo_tickets))
