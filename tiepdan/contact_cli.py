"""`tiepdan contact forget`: a person's right to be forgotten (bot/privacy.py)."""

from __future__ import annotations

import click

from core.errors import AppError
from feedback.auth import Principal

CLI = Principal(kind="system", username="tiepdan-cli")

_LABELS = {
    "contacts": "contacts (name, phone)",
    "identities": "channel identities",
    "tickets": "tickets (kept; phone numbers and the name masked in their texts)",
    "ticket_texts_masked": "ticket texts masked",
    "comments_removed": "rating comments removed (scores kept)",
    "conversations": "conversations (kept for statistics, unlinked from the person)",
    "messages_written": "messages they wrote, to replace by a marker",
    "messages_removed": "messages they wrote, replaced by a marker",
    "messages_masked": "replies to them with their name or a phone number masked",
    "photos_removed": "photos removed (files deleted)",
    "rasa_conversations": "Rasa conversations to erase",
}


def _show(counts: dict[str, int]) -> None:
    for key, value in counts.items():
        click.echo(f"  {value:>6}  {_LABELS.get(key, key)}")


@click.group()
def contact() -> None:
    """Citizens' personal data (Decree 13/2023)."""


@contact.command("forget")
@click.option("--phone", default=None, help="The phone number they gave.")
@click.option("--sender", default=None, help="A channel identity: web|telegram|zalo:<user id>.")
@click.option("--ticket", "ticket_code", default=None, help="A ticket code: its contact.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def contact_forget(
    phone: str | None, sender: str | None, ticket_code: str | None, yes: bool
) -> None:
    """Anonymise one person everywhere: contacts, chat messages, photos and Rasa's conversation.

    Tickets, categories, wards, times, deadlines and rating scores stay, so the statistics do
    not change. Exactly one of --phone, --sender and --ticket names the person.
    """
    from bot import privacy
    from core.database import session_scope

    if sum(x is not None for x in (phone, sender, ticket_code)) != 1:
        raise click.UsageError("Give exactly one of --phone, --sender and --ticket.")
    selector = {"phone": phone, "sender": sender, "ticket_code": ticket_code}
    try:
        with session_scope() as session:
            plan = privacy.describe_person(session, privacy.find_person(session, **selector))
        click.echo("This will forget one person:")
        _show(plan)
        if not yes:
            click.confirm("Forget them? This cannot be undone", abort=True)
        with session_scope() as session:
            person = privacy.find_person(session, **selector)
            done = privacy.forget_person(session, person, actor=CLI)
            # Before the commit: should it fail, the rows still point at the (gone) photos
            # and a second run finishes the job; after it, a crash would leave files that
            # nothing names any more.
            done.delete_files()
        with session_scope() as session:
            erasures = privacy.erase_pending_trackers(session, senders=done.senders)
    except AppError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo("Forgotten:")
    _show(done.counts)
    if erasures.errors:
        click.echo(
            f"Rasa: {erasures.erased} conversations erased; {len(erasures.errors)} left to do "
            f"({erasures.errors[0]}). They wait in the table tracker_erasures, and beat tries "
            "again every 10 minutes (task bot.erase_rasa_trackers).",
            err=True,
        )
    else:
        click.echo(f"Rasa: {erasures.erased} conversations erased.")
