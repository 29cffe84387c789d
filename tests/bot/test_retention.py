"""Chat transcripts past TIEPDAN_TRANSCRIPT_RETENTION_MONTHS are purged, in batches, on
PostgreSQL and on SQLite (the embedded mode); the messages' metadata and tickets stay."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import retention
from bot.models import Conversation, Direction, Message, MessageState
from core.database import make_engine
from feedback import attachments
from feedback.models import Ticket, TicketEvent, TicketStatus
from tests.images import tiny_png
from tiepdan.db import upgrade

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
OLD = datetime(2024, 11, 3, 3, 0, tzinfo=UTC)  # 25 months before NOW
RECENT = datetime(2026, 11, 3, 3, 0, tzinfo=UTC)


@pytest.fixture(params=["postgresql", "sqlite"])
def session(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Session]:
    if request.param == "postgresql":
        yield request.getfixturevalue("db_session")
        return
    url = f"sqlite:///{tmp_path / 'embedded.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as sqlite_session:
            yield sqlite_session
    finally:
        engine.dispose()


def _conversation(session: Session) -> Conversation:
    conversation = Conversation(channel="telegram", channel_user_id=secrets.token_hex(8))
    session.add(conversation)
    session.flush()
    return conversation


def _message(
    session: Session, conversation: Conversation, when: datetime, direction: Direction, **kw
) -> Message:
    message = Message(
        conversation_id=conversation.id,
        direction=direction,
        state=MessageState.ANSWERED if direction == Direction.INBOUND else MessageState.SENT,
        created_at=when,
        **kw,
    )
    session.add(message)
    return message


def test_months_before():
    assert retention.months_before(NOW, 24) == datetime(2024, 12, 4, 3, 0, tzinfo=UTC)
    assert retention.months_before(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(
        2026, 2, 28, tzinfo=UTC
    )
    assert retention.months_before(datetime(2026, 1, 15, tzinfo=UTC), 13) == datetime(
        2024, 12, 15, tzinfo=UTC
    )


def test_old_transcripts_are_purged_in_batches_and_recent_ones_kept(session: Session):
    conversation = _conversation(session)
    old = [
        _message(session, conversation, OLD, Direction.INBOUND, text="Tôi là An, 0912345678"),
        _message(
            session,
            conversation,
            OLD,
            Direction.INBOUND,
            payload='/share_location{"latitude": 10.9}',
            content={"attachments": [{"kind": "location", "latitude": 10.9}]},
        ),
        _message(session, conversation, OLD, Direction.OUTBOUND, text="Cảm ơn anh An"),
        _message(
            session,
            conversation,
            OLD,
            Direction.OUTBOUND,
            text="Không gửi được",
            content={"buttons": []},
            failure_reason="blocked by An",
        ),
    ]
    recent = [
        _message(session, conversation, RECENT, Direction.INBOUND, text="Đèn lại tắt"),
        _message(session, conversation, RECENT, Direction.OUTBOUND, text="Đã ghi nhận"),
    ]
    session.flush()
    before = retention.months_before(NOW, 24)

    purged, after_id, batches = 0, 0, 0
    next_id: int | None = 0
    while next_id is not None:
        after_id = next_id
        batch = retention.purge_messages(session, before=before, after_id=after_id, limit=3)
        purged, next_id, batches = purged + batch.purged, batch.next_after_id, batches + 1
    assert (purged, batches) == (4, 2)
    session.expire_all()
    for message in old:
        assert message.payload is None and message.content == {}
        assert message.text in (retention.RETENTION_REMOVED, None)
        assert message.failure_reason is None
    assert [m.text for m in old] == [retention.RETENTION_REMOVED, None] + [
        retention.RETENTION_REMOVED
    ] * 2
    # What the statistics read stays: direction, state, time, conversation (the channel).
    assert [(m.direction, m.state, m.created_at) for m in old] == [
        (Direction.INBOUND, MessageState.ANSWERED, OLD),
        (Direction.INBOUND, MessageState.ANSWERED, OLD),
        (Direction.OUTBOUND, MessageState.SENT, OLD),
        (Direction.OUTBOUND, MessageState.SENT, OLD),
    ]
    assert [m.text for m in recent] == ["Đèn lại tắt", "Đã ghi nhận"]
    # A second run finds nothing left to purge.
    assert retention.purge_messages(session, before=before).purged == 0
    count = session.scalars(
        select(Message.id).where(Message.conversation_id == conversation.id)
    ).all()
    assert len(count) == 6


def _photo(when: datetime) -> tuple[str, Path]:
    url = attachments.save(tiny_png(), "png")
    path = attachments.path_of(url[len(attachments.URL_PREFIX) :])
    assert path is not None
    os.utime(path, (when.timestamp(), when.timestamp()))
    return url, path


def test_old_photos_no_ticket_holds_are_deleted(session: Session, photo_dir: Path):
    _, abandoned = _photo(OLD)
    on_ticket_url, on_ticket = _photo(OLD)
    evidence_url, evidence = _photo(OLD)
    _, recent = _photo(RECENT)
    ticket = Ticket(
        code="PA" + secrets.token_hex(4).upper(),
        description="Rác",
        status=TicketStatus.RESOLVED,
        attachments=[{"type": "photo", "url": on_ticket_url}],
        created_at=OLD,
        updated_at=OLD,
    )
    session.add(ticket)
    session.flush()
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            kind="resolve",
            actor_type="staff",
            data={"attachments": [evidence_url]},
            created_at=OLD,
        )
    )
    session.flush()

    deleted = retention.purge_photos(session, before=retention.months_before(NOW, 24), limit=2)
    assert deleted == 1
    assert not abandoned.exists()
    assert on_ticket.exists() and evidence.exists() and recent.exists()


def test_the_purge_runs_at_night_and_retention_zero_keeps_everything(monkeypatch):
    from bot import tasks
    from core.settings import get_settings
    from tiepdan.worker import beat_schedule

    entry = beat_schedule()["purge-old-transcripts"]
    assert entry["task"] == "bot.purge_old_transcripts"
    assert beat_schedule()["erase-rasa-trackers"]["task"] == "bot.erase_rasa_trackers"
    assert get_settings().transcript_retention_months == 24

    monkeypatch.setattr(get_settings(), "transcript_retention_months", 0)
    monkeypatch.setattr(
        retention, "purge_messages", lambda *a, **k: pytest.fail("retention 0 purges nothing")
    )
    assert tasks.purge_old_transcripts() == 0
