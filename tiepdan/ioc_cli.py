"""`tiepdan apikey`, `tiepdan kpi` and `tiepdan report`: the IOC feed's commands."""

from __future__ import annotations

import re
from pathlib import Path

import click

from core.errors import AppError
from feedback.auth import Principal

CLI = Principal(kind="system", username="tiepdan-cli")


@click.group()
def apikey() -> None:
    """API keys for the IOC (scope ioc) and Open311 clients (scope open311)."""


@apikey.command("create")
@click.option("--name", required=True, help="Who will use it, e.g. 'IOC tỉnh'.")
@click.option("--scope", required=True, type=click.Choice(["ioc", "open311"]))
def apikey_create(name: str, scope: str) -> None:
    """Create a key and print it once: only its hash is stored."""
    from core.database import session_scope
    from feedback.apikeys import create_api_key
    from feedback.models import ApiKeyScope

    try:
        with session_scope() as session:
            new = create_api_key(session, name=name, scope=ApiKeyScope(scope), actor=CLI)
            key_id = new.key.id
    except AppError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(new.secret)
    click.echo(
        f"API key {key_id} '{name}' (scope {scope}) created. It is shown only now: store it "
        "in the client's secrets. Send it as 'Authorization: Bearer <key>' (IOC API) or as "
        "Open311's api_key.",
        err=True,
    )


@apikey.command("list")
def apikey_list() -> None:
    """The keys, with their scope, last use, and whether they are revoked."""
    from sqlalchemy import select

    from core.database import session_scope
    from feedback.models import ApiKey

    with session_scope() as session:
        for key in session.scalars(select(ApiKey).order_by(ApiKey.id)):
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
            click.echo(
                f"{key.id:>4}  {key.prefix}…  {key.scope.value:<8} {state:<18} "
                f"last used {used}  {key.name}"
            )


@apikey.command("revoke")
@click.argument("key_id", type=int)
def apikey_revoke(key_id: int) -> None:
    """Revoke key KEY_ID at once."""
    from core.database import session_scope
    from feedback.apikeys import revoke_api_key

    try:
        with session_scope() as session:
            revoke_api_key(session, principal=CLI, key_id=key_id)
    except AppError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"API key {key_id} revoked.")


@click.group()
def kpi() -> None:
    """The KPI aggregates behind the IOC API, the push, the dashboards and the report."""


@kpi.command("refresh")
def kpi_refresh() -> None:
    """Take in the tickets changed since the last refresh (what beat does every minute)."""
    from core.database import session_scope
    from feedback import kpi_aggregates

    with session_scope() as session:
        result = kpi_aggregates.refresh(session, limit=10**9)
    click.echo(f"Read {result.read} tickets, {result.changed} changed.")


@kpi.command("rebuild")
def kpi_rebuild() -> None:
    """Recompute every aggregate from the tickets (after a bulk load, or a calendar change)."""
    from core.database import session_scope
    from feedback import kpi_aggregates

    def progress(count: int) -> None:
        if count % 100_000 == 0:
            click.echo(f"  {count:,} tickets ...")

    with session_scope() as session:
        total = kpi_aggregates.rebuild(session, progress=progress)
    click.echo(f"Rebuilt the KPI aggregates from {total:,} tickets.")


@click.group()
def report() -> None:
    """Reports for the People's Committee."""


@report.command("monthly")
@click.option("--month", required=True, help="YYYY-MM, e.g. 2026-11.")
@click.option(
    "--format", "fmt", type=click.Choice(["xlsx", "csv", "pdf"]), default="pdf", show_default=True
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Default: bao-cao-phan-anh-YYYY-MM.<format> in the current directory.",
)
def report_monthly(month: str, fmt: str, output: Path | None) -> None:
    """The monthly report on feedback handling, in Vietnamese, ready to print."""
    from core.database import session_scope
    from feedback.monthly_report import build_monthly_report, parse_month
    from feedback.report_files import render_report

    if not re.fullmatch(r"\d{4}-\d{2}", month):
        raise click.BadParameter("use YYYY-MM, e.g. 2026-11", param_hint="--month")
    try:
        first = parse_month(month)
        with session_scope() as session:
            data = build_monthly_report(session, first=first)
        content = render_report(data, fmt)
    except AppError as exc:
        raise click.ClickException(exc.message) from exc
    path = output or Path.cwd() / f"bao-cao-phan-anh-{month}.{fmt}"
    path.write_bytes(content)
    click.echo(f"Wrote the report for {month} to {path.resolve()} ({len(content):,} bytes).")
