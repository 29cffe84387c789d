"""`tiepdan contact forget`: one person forgotten everywhere, another untouched, the KPIs
unchanged, Rasa called (a local server standing in for it) or left to do when it is down."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from bot import privacy
from bot.models import (
    Conversation,
    Direction,
    Message,
    MessageState,
    TrackerErasure,
    WebchatSession,
)
from core.errors import Invalid, NotFound
from core.settings import Settings, get_settings
from feedback import attachments, kpi_aggregates, kpis
from feedback.auth import Principal
from feedback.models import (
    AuditEntry,
    Contact,
    ContactIdentity,
    SurveyResponse,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from feedback.privacy import NAME_REMOVED, PHONE_REMOVED, REMOVED, mask_text, photo_file
from tests.conftest import ADMIN_URL, TEST_DB
from tests.e2e.processes import free_port
from tests.fakes.rasa import InstantRasa
from tests.images import tiny_png

OPERATOR = Principal(kind="system", username="test-operator")
CREATED = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
TOKEN = "rasa-token-for-the-tests"


@dataclass
class Someone:
    name: str
    phone: str
    contact_id: int
    ticket_code: str
    senders: list[str]
    conversation_ids: list[int]
    photo: Path
    chat_photo: Path | None


def _phone() -> str:
    return "09" + "".join(str(secrets.randbelow(10)) for _ in range(8))


def _add_person(session: Session, name: str, channels: list[str]) -> Someone:
    phone = _phone()
    contact = Contact(name=name, phone=phone, phone_consent=True)
    session.add(contact)
    session.flush()
    senders, conversation_ids = [], []
    chat_photo = None
    for channel in channels:
        user = secrets.token_urlsafe(12)
        session.add(ContactIdentity(contact_id=contact.id, channel=channel, channel_user_id=user))
        conversation = Conversation(channel=channel, channel_user_id=user)
        session.add(conversation)
        session.flush()
        senders.append(f"{channel}:{user}")
        conversation_ids.append(conversation.id)
        said = [
            Message(
                conversation_id=conversation.id,
                direction=Direction.INBOUND,
                text=f"Tôi là {name}, số {phone}: đèn đường trước số 12 Yersin tắt cả tuần",
                content={"metadata": {"first_name": name.split()[-1]}},
                state=MessageState.ANSWERED,
            ),
            Message(
                conversation_id=conversation.id,
                direction=Direction.INBOUND,
                content={"attachments": [{"kind": "location", "latitude": 10.98}]},
                state=MessageState.ANSWERED,
            ),
            Message(
                conversation_id=conversation.id,
                direction=Direction.OUTBOUND,
                text=f"Cảm ơn {name}, chúng tôi sẽ gọi số {phone}.",
                state=MessageState.SENT,
            ),
        ]
        if channel == "web":
            chat_photo_url = attachments.save(tiny_png(), "png")
            chat_photo = photo_file(chat_photo_url)
            said.append(
                Message(
                    conversation_id=conversation.id,
                    direction=Direction.INBOUND,
                    payload="/share_photo" + json.dumps({"photo_url": chat_photo_url}),
                    state=MessageState.ANSWERED,
                )
            )
            session.add(WebchatSession(id=user, conversation_id=conversation.id))
        session.add_all(said)
    photo_url = attachments.save(tiny_png(), "png")
    ticket = Ticket(
        code="PA" + secrets.token_hex(4).upper(),
        description=f"Đèn đường trước số 12 Yersin tắt. Gọi {name} theo số {phone}.",
        status=TicketStatus.RESOLVED,
        ward_code="25747",
        category_code="moi_truong",
        channel=channels[0],
        contact_id=contact.id,
        attachments=[{"type": "photo", "url": photo_url}],
        created_at=CREATED,
        updated_at=CREATED + timedelta(days=2),
        sla_due_at=CREATED + timedelta(days=3),
        first_response_at=CREATED + timedelta(hours=2),
        resolved_at=CREATED + timedelta(days=1),
    )
    session.add(ticket)
    session.flush()
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            kind="reply",
            actor_type="staff",
            message=f"Chào {name}, đơn vị đã tiếp nhận.",
            public=True,
            created_at=CREATED + timedelta(hours=2),
        )
    )
    session.add(
        SurveyResponse(
            ticket_id=ticket.id, score=4, fixed=True, comment=f"{name} cảm ơn", created_at=CREATED
        )
    )
    session.flush()
    path = photo_file(photo_url)
    assert path is not None and path.is_file()
    return Someone(
        name, phone, contact.id, ticket.code, senders, conversation_ids, path, chat_photo
    )


@pytest.fixture
def two_people(
    db_session: Session, photo_dir: Path, empty_aggregates: None
) -> tuple[Someone, Someone]:
    an = _add_person(db_session, "Nguyễn Văn An", ["telegram", "web"])
    binh = _add_person(db_session, "Trần Thị Bình", ["zalo"])
    return an, binh


def _figures(session: Session) -> Any:
    kpi_aggregates.rebuild(session)
    session.flush()
    report = kpis.service_kpis(
        session, first=date(2026, 11, 1), last=date(2026, 11, 30), group_by="channel"
    )
    return report.total, report.groups


def _messages(session: Session, conversation_ids: list[int]) -> list[Message]:
    session.expire_all()
    return list(
        session.scalars(
            select(Message)
            .where(Message.conversation_id.in_(conversation_ids))
            .order_by(Message.id)
        )
    )


def _assert_untouched(session: Session, person: Someone) -> None:
    contact = session.get_one(Contact, person.contact_id)
    assert (contact.name, contact.phone) == (person.name, person.phone)
    ticket = session.scalars(select(Ticket).where(Ticket.code == person.ticket_code)).one()
    assert person.phone in ticket.description and ticket.attachments
    assert person.photo.is_file()
    assert all(
        m.text != REMOVED and (m.text is None or NAME_REMOVED not in m.text)
        for m in _messages(session, person.conversation_ids)
    )
    users = {s.split(":", 1)[1] for s in person.senders}
    assert (
        set(
            session.scalars(
                select(Conversation.channel_user_id).where(
                    Conversation.id.in_(person.conversation_ids)
                )
            )
        )
        == users
    )


def _selector(person: Someone, how: str) -> dict[str, str]:
    if how == "phone":
        return {"phone": person.phone[:4] + " " + person.phone[4:]}  # as someone types it
    if how == "sender":
        return {"sender": person.senders[0]}
    return {"ticket_code": person.ticket_code.lower()}


@pytest.mark.parametrize("how", ["phone", "sender", "ticket"])
def test_forget_one_person_by_each_selector(
    db_session: Session, two_people: tuple[Someone, Someone], how: str
):
    an, binh = two_people
    before = _figures(db_session)
    tickets_before = db_session.scalar(select(Ticket.id).order_by(Ticket.id.desc()).limit(1))

    person = privacy.find_person(db_session, **_selector(an, how))
    plan = privacy.describe_person(db_session, person)
    assert plan["contacts"] == 1 and plan["conversations"] == 2
    assert plan["messages_written"] == 5  # two per chat, and the web chat's photo
    assert sorted(person.senders) == sorted(an.senders)
    done = privacy.forget_person(db_session, person, actor=OPERATOR)
    done.delete_files()
    db_session.flush()

    contact = db_session.get_one(Contact, an.contact_id)
    assert (contact.name, contact.phone, contact.phone_consent) == (None, None, False)
    assert not db_session.scalars(
        select(ContactIdentity).where(ContactIdentity.contact_id == an.contact_id)
    ).all()
    ticket = db_session.scalars(select(Ticket).where(Ticket.code == an.ticket_code)).one()
    assert ticket.description == (
        f"Đèn đường trước số 12 Yersin tắt. Gọi {NAME_REMOVED} theo số {PHONE_REMOVED}."
    )
    assert ticket.attachments == [] and not an.photo.exists()
    assert an.chat_photo is not None and not an.chat_photo.exists()
    assert (ticket.status, ticket.category_code, ticket.ward_code, ticket.contact_id) == (
        TicketStatus.RESOLVED,
        "moi_truong",
        "25747",
        an.contact_id,
    )
    reply = db_session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).one()
    assert reply.message == f"Chào {NAME_REMOVED}, đơn vị đã tiếp nhận."
    survey = db_session.scalars(
        select(SurveyResponse).where(SurveyResponse.ticket_id == ticket.id)
    ).one()
    assert (survey.score, survey.fixed, survey.comment) == (4, True, REMOVED)

    messages = _messages(db_session, an.conversation_ids)
    inbound = [m for m in messages if m.direction == Direction.INBOUND]
    assert {(m.text, m.payload, json.dumps(m.content)) for m in inbound} == {(REMOVED, None, "{}")}
    outbound = [m.text for m in messages if m.direction == Direction.OUTBOUND]
    assert outbound == [f"Cảm ơn {NAME_REMOVED}, chúng tôi sẽ gọi số {PHONE_REMOVED}."] * 2
    conversations = db_session.scalars(
        select(Conversation).where(Conversation.id.in_(an.conversation_ids))
    ).all()
    assert {c.channel for c in conversations} == {"telegram", "web"}
    assert all(c.channel_user_id.startswith(privacy.PLACEHOLDER_PREFIX) for c in conversations)
    assert not db_session.scalars(
        select(WebchatSession).where(WebchatSession.conversation_id.in_(an.conversation_ids))
    ).all()
    waiting = db_session.scalars(select(TrackerErasure.sender_id)).all()
    assert sorted(waiting) == sorted(an.senders)

    entry = db_session.scalars(
        select(AuditEntry).where(AuditEntry.action == "contact.forget")
    ).one()
    assert entry.actor == "test-operator" and entry.target is None
    assert entry.detail["selector"] == how and entry.detail["messages_removed"] == 5
    recorded = json.dumps(entry.detail, ensure_ascii=False)
    assert an.phone not in recorded and "An" not in recorded
    assert not any(s.split(":", 1)[1] in recorded for s in an.senders)

    _assert_untouched(db_session, binh)
    assert _figures(db_session) == before
    assert db_session.scalar(select(Ticket.id).order_by(Ticket.id.desc()).limit(1)) == (
        tickets_before
    )


def test_forgetting_twice_is_harmless(db_session: Session, two_people: tuple[Someone, Someone]):
    an, binh = two_people
    person = privacy.find_person(db_session, ticket_code=an.ticket_code)
    privacy.forget_person(db_session, person, actor=OPERATOR).delete_files()
    again = privacy.forget_person(
        db_session, privacy.find_person(db_session, ticket_code=an.ticket_code), actor=OPERATOR
    )
    assert again.files == [] and again.senders == []
    changed = {k: v for k, v in again.counts.items() if v and k != "tickets"}
    assert changed == {}
    # Found by what is gone, they are nobody now: a clear error, not a crash.
    with pytest.raises(NotFound):
        privacy.find_person(db_session, phone=an.phone)
    with pytest.raises(NotFound):
        privacy.find_person(db_session, sender=an.senders[0])
    _assert_untouched(db_session, binh)


def test_unknown_people_and_bad_selectors_are_refused(db_session: Session):
    with pytest.raises(NotFound):
        privacy.find_person(db_session, phone="0900000001")
    with pytest.raises(NotFound):
        privacy.find_person(db_session, sender="telegram:nobody-at-all")
    with pytest.raises(NotFound):
        privacy.find_person(db_session, ticket_code="PA00000000")
    with pytest.raises(Invalid):
        privacy.find_person(db_session, sender="sms:123")
    with pytest.raises(Invalid):
        privacy.find_person(db_session, sender="no-channel")


def test_masking_keeps_house_numbers_and_the_problem():
    text = "Nhà số 12, hẻm 34/5 Yersin: ông NGUYỄN VĂN AN (0912.345.678, +84 912 345 679) báo"
    assert mask_text(text, names=["Nguyễn Văn An"]) == (
        f"Nhà số 12, hẻm 34/5 Yersin: ông {NAME_REMOVED} ({PHONE_REMOVED}, {PHONE_REMOVED}) báo"
    )


# --- Rasa ----------------------------------------------------------------------------------


def _settings(**update: Any) -> Settings:
    return get_settings().model_copy(update=update)


def _forget(db_session: Session, person: Someone) -> privacy.Forgotten:
    found = privacy.find_person(db_session, phone=person.phone)
    return privacy.forget_person(db_session, found, actor=OPERATOR)


def test_rasa_is_asked_to_erase_each_conversation(
    db_session: Session, two_people: tuple[Someone, Someone]
):
    an, binh = two_people
    done = _forget(db_session, an)
    with InstantRasa(token=TOKEN) as rasa:
        run = privacy.erase_pending_trackers(
            db_session, settings=_settings(rasa_url=rasa.url, rasa_token=TOKEN)
        )
    assert (run.erased, run.pending, run.errors) == (2, 0, [])
    assert sorted(rasa.requests, key=lambda r: r["path"]) == sorted(
        (
            {
                "method": "PUT",
                "path": f"/conversations/{sender}/tracker/events",
                "token": TOKEN,
                "body": [],
            }
            for sender in done.senders
        ),
        key=lambda r: r["path"],
    )
    assert not db_session.scalars(select(TrackerErasure)).all()
    assert not any(binh.senders[0] in r["path"] for r in rasa.requests)


def test_rasa_down_leaves_the_erasure_to_do_and_beat_finishes_it(
    db_session: Session, two_people: tuple[Someone, Someone]
):
    an, _ = two_people
    done = _forget(db_session, an)
    down = privacy.erase_pending_trackers(
        db_session, settings=_settings(rasa_url=f"http://127.0.0.1:{free_port()}")
    )
    assert (down.erased, down.pending, len(down.errors)) == (0, 2, 2)
    assert "ConnectError" in down.errors[0] and an.senders[0] not in down.errors[0]
    rows = db_session.scalars(select(TrackerErasure)).all()
    assert sorted(r.sender_id for r in rows) == sorted(done.senders)
    assert all(r.attempts == 1 and r.last_error for r in rows)
    # The database part is done all the same.
    assert db_session.get_one(Contact, an.contact_id).phone is None

    # A wrong token is refused by Rasa: still to do.
    with InstantRasa(token=TOKEN) as rasa:
        refused = privacy.erase_pending_trackers(
            db_session, settings=_settings(rasa_url=rasa.url, rasa_token="wrong")
        )
        assert (refused.erased, refused.pending) == (0, 2)
        assert refused.errors[0] == "RasaUnavailable: HTTP 401"
        later = privacy.erase_pending_trackers(
            db_session, settings=_settings(rasa_url=rasa.url, rasa_token=TOKEN)
        )
    assert (later.erased, later.pending) == (2, 0)


@pytest.fixture
def tracker_database() -> Iterator[str]:
    """A database shaped like Rasa's SQL tracker store (its `events` table)."""
    name = f"{TEST_DB}_rasa_events"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql") + f"/{name}"
    engine = privacy._tracker_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE events (id serial PRIMARY KEY, sender_id varchar(255) NOT NULL, "
                "type_name varchar(255) NOT NULL, timestamp float, intent_name varchar(255), "
                "action_name varchar(255), data text)"
            )
        )
    yield url
    privacy._engines.pop(url).dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_an_sql_tracker_store_loses_the_rows_of_the_forgotten(
    db_session: Session, two_people: tuple[Someone, Someone], tracker_database: str
):
    """Rasa's SQL tracker store only appends: the PUT alone would leave every event there."""
    an, binh = two_people
    engine = privacy._tracker_engine(tracker_database)
    with engine.begin() as connection:
        for sender in [*an.senders, *binh.senders]:
            connection.execute(
                text("INSERT INTO events (sender_id, type_name, data) VALUES (:s, 'user', :d)"),
                {"s": sender, "d": json.dumps({"text": "đèn đường tắt"})},
            )
    _forget(db_session, an)
    with InstantRasa() as rasa:
        settings = _settings(
            rasa_url=rasa.url,
            rasa_tracker_store_url=tracker_database,
            rasa_lock_store_url="redis://127.0.0.1:6379/13",
        )
        run = privacy.erase_pending_trackers(db_session, settings=settings)
    assert (run.erased, run.pending) == (2, 0)
    with engine.connect() as connection:
        left = connection.execute(text("SELECT sender_id FROM events")).scalars().all()
    assert left == binh.senders


# --- The command ---------------------------------------------------------------------------


@pytest.fixture
def cli_session(db_session: Session, monkeypatch: pytest.MonkeyPatch) -> Session:
    """The command's transactions, inside the test's (rolled back at the end)."""
    from contextlib import contextmanager

    import core.database

    @contextmanager
    def scope() -> Iterator[Session]:
        yield db_session
        db_session.flush()

    monkeypatch.setattr(core.database, "session_scope", scope)
    return db_session


def test_the_command_shows_counts_asks_then_forgets(
    cli_session: Session, two_people: tuple[Someone, Someone], monkeypatch: pytest.MonkeyPatch
):
    from tiepdan.cli import main

    an, binh = two_people
    monkeypatch.setattr(get_settings(), "rasa_url", f"http://127.0.0.1:{free_port()}")
    runner = CliRunner()
    refused = runner.invoke(main, ["contact", "forget", "--phone", an.phone], input="n\n")
    assert refused.exit_code == 1 and "Aborted" in refused.output
    assert "2  conversations" in refused.output and an.phone not in refused.output
    assert cli_session.get_one(Contact, an.contact_id).phone == an.phone

    result = runner.invoke(main, ["contact", "forget", "--sender", an.senders[0]], input="y\n")
    assert result.exit_code == 0, result.output
    assert "5  messages they wrote, replaced by a marker" in result.output
    assert "2 left to do" in result.stderr and "tracker_erasures" in result.stderr
    assert an.name not in result.output and an.senders[0] not in result.output
    assert cli_session.get_one(Contact, an.contact_id).phone is None
    assert not an.photo.exists()
    _assert_untouched(cli_session, binh)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--phone", "0900000002", "--yes"], "Không tìm thấy người dân nào theo số điện thoại"),
        (["--sender", "zalo:nobody", "--yes"], "Không tìm thấy người dân nào theo định danh"),
        (["--ticket", "PA00000000", "--yes"], "Không có phản ánh PA00000000"),
        (["--sender", "fax:1", "--yes"], "Unknown channel 'fax'"),
        (["--phone", "0900000002", "--ticket", "PA1"], "exactly one of"),
        ([], "exactly one of"),
    ],
)
def test_the_command_refuses_unknown_people(cli_session: Session, args: list[str], message: str):
    from tiepdan.cli import main

    result = CliRunner().invoke(main, ["contact", "forget", *args])
    assert result.exit_code != 0
    assert message in result.output


def test_forget_on_sqlite(tmp_path: Path, photo_dir: Path):
    """The embedded mode's database: the same forget, and the KPIs the same after it."""
    from core.database import make_engine
    from feedback.province import default_province_file, load_province
    from feedback.seed import seed_province
    from tiepdan.db import upgrade

    url = f"sqlite:///{tmp_path / 'embedded.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            seed_province(session, config=load_province(default_province_file()))
            an = _add_person(session, "Nguyễn Văn An", ["telegram", "web"])
            binh = _add_person(session, "Trần Thị Bình", ["zalo"])
            session.commit()
            before = _figures(session)
            for how in ("sender", "ticket"):  # the second time: nothing more to do
                done = privacy.forget_person(
                    session, privacy.find_person(session, **_selector(an, how)), actor=OPERATOR
                )
                done.delete_files()
                session.commit()
            assert db_value(session, an.contact_id) == (None, None)
            inbound = [
                m.text
                for m in _messages(session, an.conversation_ids)
                if m.direction == Direction.INBOUND
            ]
            assert inbound == [REMOVED] * 5
            assert not an.photo.exists() and binh.photo.exists()
            _assert_untouched(session, binh)
            assert _figures(session) == before
            assert len(session.scalars(select(AuditEntry)).all()) == 2
    finally:
        engine.dispose()


def db_value(session: Session, contact_id: int) -> tuple[str | None, str | None]:
    contact = session.get_one(Contact, contact_id)
    return contact.name, contact.phone
