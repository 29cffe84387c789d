"""One demo ticket's life, step by step through the domain's own functions, at the moments it
happened (feedback/demo.py says what the demo is for; feedback/demo_words.yaml holds its words).

A ticket is filed and routed, then given a fate: most are started, answered, resolved with a
photo as evidence, rated and closed; some are rejected, transferred, left waiting or reopened.
Officials act in office hours, citizens at any hour, and nothing happens after `now`.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.settings import get_settings
from feedback import attachments
from feedback.auth import SERVICE, Principal
from feedback.citizen import Identity, rate
from feedback.classifier import TicketClassifier
from feedback.demo_photos import street_scene
from feedback.models import (
    OPEN_STATUSES,
    Agency,
    AgencyWard,
    Category,
    ContactIdentity,
    ContactKind,
    StaffRole,
    StaffUser,
    Ticket,
    TicketKind,
    TicketPriority,
    TicketStatus,
    Ward,
)
from feedback.routing import choose_agency, route_ticket
from feedback.schemas import (
    AgencyBody,
    ContactIn,
    MessageBody,
    NoteBody,
    OptionalMessageBody,
    ReasonBody,
    ResolveBody,
    StartBody,
    TicketCreate,
)
from feedback.seed import DEMO_USERS
from feedback.service import create_ticket, perform_action
from feedback.sla import current_calendar
from feedback.tax_codes import check_digit

WORDS_FILE = Path(__file__).resolve().parent / "demo_words.yaml"
DAYS = 90
# Tickets per local hour of the day: people write in office hours and in the evening.
# fmt: off
_HOUR_WEIGHTS = [1, 1, 1, 1, 1, 3, 8, 16, 25, 28, 28, 25,
                 18, 20, 24, 25, 24, 19, 15, 16, 15, 11, 6, 3]
# fmt: on
_CHANNELS = {"zalo": 50, "web": 30, "telegram": 20}
# What happens to a ticket after routing, besides the common path to "closed".
_FATES = {"done": 85, "reject": 5, "transfer": 5, "stuck_assigned": 2, "stuck_started": 3}
# Most reports are complaints; a category's suggestions and questions are rarer.
_KIND_WEIGHTS = {
    TicketKind.COMPLAINT: 6,
    TicketKind.BUSINESS_REQUEST: 6,
    TicketKind.SUGGESTION: 1.5,
    TicketKind.QUESTION: 1,
}


@dataclass
class DemoReport:
    """What `create_demo_tickets` made: tickets by final status, and a few totals."""

    statuses: Counter[str] = field(default_factory=Counter)
    overdue: int = 0
    rated: int = 0
    old_names: int = 0  # reports naming a place by its pre-2025 name

    @property
    def count(self) -> int:
        return sum(self.statuses.values())


class Past(Exception):
    """The next step would happen after `now`: the ticket rests where it is."""


class Story:
    """The demo's tickets, one life at a time (`live`), sharing one random stream."""

    def __init__(
        self, session: Session, *, classifier: TicketClassifier, rng: random.Random, now: datetime
    ) -> None:
        self.session, self.classifier, self.rng, self.now = session, classifier, rng, now
        self.text: dict[str, Any] = yaml.safe_load(WORDS_FILE.read_text(encoding="utf-8"))
        self.calendar = current_calendar(session)
        self.zone = ZoneInfo(get_settings().timezone)
        self.report = DemoReport()
        self.contacts: list[ContactIn] = []
        self._paces: dict[int | None, float] = {}
        # One picture of each kind is drawn once; each use stores its own copy, as an upload would.
        self.photos = {fixed: street_scene(rng.randrange(1000), fixed=fixed) for fixed in (0, 1)}

    # -- what is known of the province ------------------------------------------------------

    @cached_property
    def categories(self) -> dict[str, int]:
        """Category code → SLA working days, for the categories that have stories."""
        rows = self.session.execute(select(Category.code, Category.sla_working_days)).all()
        known = dict(rows)
        missing = set(self.text["categories"]) - set(known)
        if missing:
            raise ValueError(f"{WORDS_FILE.name} has stories for unknown categories {missing}")
        return {code: known[code] for code in self.text["categories"]}

    @cached_property
    def wards(self) -> tuple[list[Ward], list[float]]:
        """The wards, and how often each is the scene: a few busy ones, a long tail, and more
        where a demo login works, so that each demo official has a queue to open."""
        wards = list(self.session.scalars(select(Ward).order_by(Ward.code)))
        if not wards:
            raise ValueError("The province is not loaded yet: run `tiepdan seed` first.")
        demo_agencies = [code for _, _, _, code in DEMO_USERS if code]
        favoured = set(
            self.session.scalars(
                select(AgencyWard.ward_code)
                .join(Agency, Agency.id == AgencyWard.agency_id)
                .where(Agency.code.in_(demo_agencies))
            )
        )
        order = list(range(len(wards)))
        self.rng.shuffle(order)
        weights = [0.0] * len(wards)
        for rank, index in enumerate(order):
            weights[index] = (6.0 if wards[index].code in favoured else 1.0) / (rank + 8)
        return wards, weights

    @cached_property
    def demo_staff(self) -> dict[int | None, Principal]:
        """The demo logins by agency (None: the dispatcher), as the actors of their agency's
        steps. Other agencies' steps are by an unnamed official of that agency: the demo never
        puts words in a real account's mouth."""
        names = [username for username, *_ in DEMO_USERS]
        users = self.session.scalars(select(StaffUser).where(StaffUser.username.in_(names)))
        staff: dict[int | None, Principal] = {}
        for user in users:
            if user.role in (StaffRole.AGENCY_STAFF, StaffRole.DISPATCHER):
                key = user.agency_id if user.role == StaffRole.AGENCY_STAFF else None
                staff[key] = Principal(
                    kind="staff",
                    role=user.role,
                    user_id=user.id,
                    agency_id=user.agency_id,
                    username=user.username,
                )
        return staff

    def official(self, agency_id: int | None) -> Principal:
        if agency_id in self.demo_staff:
            return self.demo_staff[agency_id]
        if agency_id is None:
            return Principal(kind="staff", role=StaffRole.DISPATCHER)
        return Principal(kind="staff", role=StaffRole.AGENCY_STAFF, agency_id=agency_id)

    # -- when -------------------------------------------------------------------------------

    def schedule(self, count: int) -> list[tuple[datetime, str]]:
        """`count` filing moments over the 90 days before today, oldest first, each with its
        fate. A few fates are given, not drawn, so that every resting status is there."""
        rng = self.rng
        today = self.now.astimezone(self.zone).date()
        days = [today - timedelta(days=n) for n in range(DAYS, 0, -1)]
        # Fewer reports at weekends, and a few more each week as people learn of the service.
        weights = [
            (0.5 if day.weekday() >= 5 else 1.0) * (0.8 + 0.4 * i / len(days))
            for i, day in enumerate(days)
        ]
        moments = sorted(
            datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC)
            + timedelta(hours=hour + rng.random())
            for day, hour in zip(
                rng.choices(days, weights=weights, k=count),
                rng.choices(range(24), weights=_HOUR_WEIGHTS, k=count),
                strict=True,
            )
        )
        fates = rng.choices(list(_FATES), weights=list(_FATES.values()), k=count)
        given = {
            count - 1: "unclear_waiting",  # yesterday's vague report, still in triage
            count * 2 // 3: "reopened_waiting",  # "not fixed", and nobody has started again
            count // 2: "stuck_started",  # started weeks ago: overdue
            count // 3: "stuck_assigned",  # never started: overdue
            count // 4: "reject",
        }
        for index, fate in given.items():
            if 0 <= index < count:
                fates[index] = fate
        return list(zip(moments, fates, strict=True))

    def at(self, moment: datetime) -> datetime:
        """`moment`, or Past if it has not come yet."""
        if moment >= self.now:
            raise Past
        return moment

    def office(self, after: datetime, hours: float) -> datetime:
        """A moment in office hours, about `hours` after `after`: officials work by day."""
        moment = after + timedelta(hours=hours)
        opening = self.calendar.clock_start(moment)
        if opening != moment:  # outside office hours: some time after the next opening
            moment = opening + timedelta(minutes=self.rng.uniform(10, 150))
        return self.at(moment)

    def hours(self, median: float, spread: float = 0.8) -> float:
        return self.rng.lognormvariate(math.log(median), spread)

    # -- the ticket -------------------------------------------------------------------------

    def live(self, created: datetime, fate: str) -> None:
        ticket, category = self.file(created, fate)
        # The steps change this same ticket object; a step not yet due ends them.
        with contextlib.suppress(Past):
            self.handle(ticket, fate, category)
        self.report.statuses[ticket.status.value] += 1
        due = ticket.sla_due_at
        if ticket.status in OPEN_STATUSES and due is not None and due < self.now:
            self.report.overdue += 1

    def file(self, created: datetime, fate: str) -> tuple[Ticket, str]:
        """The report as the bot files it, routed a few seconds later, and the category it is
        really about (a staff member would know)."""
        rng = self.rng
        unclear = fate == "unclear_waiting"
        category = rng.choices(list(self.categories), weights=self._shares)[0]
        kinds = [k for k in TicketKind if k.value in self.text["categories"][category]]
        kind = rng.choices(kinds, weights=[_KIND_WEIGHTS[k] for k in kinds])[0]
        wards, weights = self.wards
        ward = rng.choices(wards, weights=weights)[0]
        street = self._street(ward.code)
        number = rng.randrange(2, 300)
        template = rng.choice(self.text["categories"][category][kind.value])
        description = template.format(n=number, street=street)
        data: dict[str, Any] = {"description": description, "kind": kind}
        intake = rng.random()
        if unclear:  # nothing to go on: the dispatchers' triage
            data["description"] = self._vague()
        elif intake < 0.6:  # the bot asked where, and the person picked a category's button
            data.update(ward_code=ward.code, category=category)
            data["address"] = f"{number} {street}, {ward.name}"
        elif intake < 0.88:  # where is known, what it is about is the NLU's call
            data.update(ward_code=ward.code, address=f"{number} {street}, {ward.name}")
        else:  # the place is in the words only, often by its pre-2025 name
            data["description"] = f"{description} {self._place(ward)}"
        if category in ("an_ninh_trat_tu", "dien_nuoc") and rng.random() < 0.3:
            data["priority"] = TicketPriority.HIGH
        # A citizen who can be asked for a rating: most, and whoever will say "not fixed".
        known = rng.random() < 0.85 or fate == "reopened_waiting"
        contact = self._contact(category) if known else None
        if contact is not None:
            data.update(contact=contact, channel=contact.channel)
        if not unclear and rng.random() < 0.35:
            data["photos"] = [attachments.save(self.photos[0], "png")]
        ticket = create_ticket(self.session, data=TicketCreate(**data), actor=SERVICE, now=created)
        ticket.demo = True
        if ticket.contact is not None and ticket.contact.created_at > created:
            ticket.contact.created_at = created  # a new contact: first seen with this report
        routed = route_ticket(
            self.session,
            ticket_id=ticket.id,
            classifier=self.classifier,
            now=created + timedelta(seconds=rng.uniform(2, 40)),
        )
        assert routed is not None
        return routed, category

    def handle(self, ticket: Ticket, fate: str, category: str) -> Ticket:
        """Staff work the ticket and its citizen answers, up to `now`."""
        rng = self.rng
        last = ticket.updated_at
        if ticket.status == TicketStatus.TRIAGE:
            if fate == "unclear_waiting":
                return ticket
            last = self.office(last, self.hours(3))
            # The dispatcher reads it, picks the category and the agency routing gives it.
            agency = choose_agency(self.session, category_code=category, ward_code=ticket.ward_code)
            assert agency is not None
            body = AgencyBody(agency=agency.code, category=category)
            ticket = self.act(ticket, "assign", body, self.official(None), last)
        if fate == "stuck_assigned":
            return ticket
        pace = self._pace(ticket.agency_id)
        last = self.office(last, self.hours(5 * pace))
        if fate == "reject":
            reason = ReasonBody(reason=self.pick("rejections"))
            return self.act(ticket, "reject", reason, self.official(ticket.agency_id), last)
        if fate == "transfer":
            ticket, last = self._transfer(ticket, last)
        staff = self.official(ticket.agency_id)
        ticket = self.act(ticket, "start", StartBody(), staff, last)
        if rng.random() < 0.45:
            last = self.office(last, self.hours(4 * pace))
            ticket = self.act(
                ticket, "reply", MessageBody(message=self.said(category, "replies")), staff, last
            )
        if rng.random() < 0.2:
            last = self.office(last, self.hours(3))
            ticket = self.act(ticket, "note", NoteBody(message=self.pick("notes")), staff, last)
        if fate == "stuck_started":
            return ticket
        on_time = rng.random() < (0.85 if pace < 1.5 else 0.45)
        assert ticket.sla_due_at is not None
        room = (ticket.sla_due_at - last).total_seconds() / 3600
        if on_time and room > 3:
            last = self.office(last, rng.uniform(0.15, 0.85) * room)
        else:
            last = self.office(max(last, ticket.sla_due_at), self.hours(30 * pace))
        ticket = self.resolve(ticket, staff, last, category)
        if ticket.contact is not None and (rng.random() < 0.65 or fate == "reopened_waiting"):
            ticket, last = self._rate(ticket, last, on_time=on_time, fate=fate)
            if ticket.status == TicketStatus.REOPENED:
                if fate == "reopened_waiting":
                    return ticket
                last = self.office(last, self.hours(10 * pace))
                ticket = self.act(ticket, "start", StartBody(), staff, last)
                last = self.office(last, self.hours(24 * pace))
                ticket = self.resolve(ticket, staff, last, category)
        if rng.random() < 0.88:
            last = self.office(last, self.hours(60))
            ticket = self.act(ticket, "close", OptionalMessageBody(), staff, last)
        return ticket

    def act(
        self, ticket: Ticket, action: str, body: BaseModel, actor: Principal, moment: datetime
    ) -> Ticket:
        return perform_action(
            self.session, ticket, action=action, body=body, principal=actor, now=moment
        )

    def resolve(self, ticket: Ticket, staff: Principal, moment: datetime, category: str) -> Ticket:
        evidence = attachments.save(self.photos[1], "png")
        body = ResolveBody(message=self.said(category, "resolutions"), attachments=[evidence])
        return self.act(ticket, "resolve", body, staff, moment)

    def _transfer(self, ticket: Ticket, last: datetime) -> tuple[Ticket, datetime]:
        """Handed to the category's department, or from it to the ward's committee."""
        category = self.session.get(Category, ticket.category_code)
        assert category is not None
        target = category.default_agency_id
        if target == ticket.agency_id and ticket.ward_code is not None:
            target = self.session.scalar(
                select(AgencyWard.agency_id).where(AgencyWard.ward_code == ticket.ward_code)
            )
        agency = self.session.get(Agency, target) if target else None
        if agency is None or agency.id == ticket.agency_id:
            return ticket, last
        body = AgencyBody(agency=agency.code, message=self.pick("transfers"))
        ticket = self.act(ticket, "transfer", body, self.official(ticket.agency_id), last)
        return ticket, self.office(last, self.hours(6))

    def _rate(
        self, ticket: Ticket, last: datetime, *, on_time: bool, fate: str
    ) -> tuple[Ticket, datetime]:
        """The citizen's answer to the rating request, some hours later (at any hour)."""
        rng = self.rng
        moment = self.at(last + timedelta(hours=self.hours(6, 1.0)))
        contact = ticket.contact
        assert contact is not None
        identity = self._identity(contact.id)
        if fate == "reopened_waiting" or rng.random() < 0.03:
            comment = self.pick("comments", "not_fixed")
            rating = rate(
                self.session, identity, ticket.code, fixed=False, comment=comment, now=moment
            )
        else:
            # Most are satisfied when the deadline was kept, fewer when it was not.
            pleased = [5, 5, 5, 5, 4, 4, 4, 3] if on_time else [5, 4, 4, 3, 3, 2, 2, 1]
            score = rng.choice(pleased)
            comment = None
            if rng.random() < 0.4:
                comment = self.pick("comments", "pleased" if score >= 4 else "displeased")
            rating = rate(
                self.session,
                identity,
                ticket.code,
                score=score,
                fixed=True,
                comment=comment,
                now=moment,
            )
        self.report.rated += 1
        return rating.ticket, moment

    # -- words and people -------------------------------------------------------------------

    @cached_property
    def _shares(self) -> list[float]:
        return [self.text["categories"][code].get("share", 1) for code in self.categories]

    def pick(self, *path: str) -> str:
        node: Any = self.text
        for key in path:
            node = node[key]
        return str(self.rng.choice(node))

    def said(self, category: str, what: str) -> str:
        """A staff reply or resolution in the words of the ticket's category."""
        return str(self.rng.choice(self.text["categories"][category][what]))

    def _vague(self) -> str:
        """A vague report the classifier is unsure of, as routing will ask it."""
        texts = self.text["unclear"]
        unsure = (t for t in texts if not self.classifier.predict(t).confident)
        return str(next(unsure, texts[0]))

    def _street(self, ward_code: str) -> str:
        by_prefix = self.text["streets"]
        prefix = max((p for p in by_prefix if ward_code.startswith(p)), key=len)
        return str(self.rng.choice(by_prefix[prefix]))

    def _place(self, ward: Ward) -> str:
        """Where, in the report's own words: the ward today, or a ward it absorbed in 2025."""
        from nlu.wards import former_names

        try:
            former = former_names(ward.code)
        except FileNotFoundError:  # a province without the 2025 mapping
            former = []
        if former and self.rng.random() < 0.6:
            old_ward, old_district, _province = former[0].split(", ")
            self.report.old_names += 1
            return f"Địa chỉ: {old_ward}, {old_district}."
        return f"Địa chỉ: {ward.name}."

    def _contact(self, category: str) -> ContactIn:
        rng = self.rng
        if self.contacts and rng.random() < 0.15:  # someone who has written before
            return rng.choice(self.contacts)
        people = self.text["people"]
        channel = rng.choices(list(_CHANNELS), weights=list(_CHANNELS.values()))[0]
        name = " ".join(rng.choice(people[part]) for part in ("family", "middle", "given"))
        details: dict[str, Any] = {}
        if rng.random() < 0.5:
            details.update(phone=f"09{rng.randrange(10**7, 10**8)}", phone_consent=True)
        if category == "doanh_nghiep_dau_tu":
            details.update(
                kind=ContactKind.BUSINESS,
                company_name=rng.choice(people["companies"]),
                tax_code=_demo_tax_code(rng),
            )
        contact = ContactIn(
            name=name,
            channel=channel,
            # "demo-" cannot be a real Zalo, Telegram or web-chat id: demo tickets never attach
            # to a real person's contact.
            channel_user_id=f"demo-{rng.randrange(10**11, 10**12)}",
            **details,
        )
        self.contacts.append(contact)
        return contact

    def _identity(self, contact_id: int) -> Identity:
        row = self.session.scalar(
            select(ContactIdentity).where(ContactIdentity.contact_id == contact_id).limit(1)
        )
        assert row is not None
        return Identity(channel=row.channel, channel_user_id=row.channel_user_id)

    def _pace(self, agency_id: int | None) -> float:
        """How slow an agency is: most keep to their deadlines, a few fall behind."""
        if agency_id not in self._paces:
            self._paces[agency_id] = 2.5 if self.rng.random() < 0.15 else 1.0
        return self._paces[agency_id]


def _demo_tax_code(rng: random.Random) -> str:
    """A made-up MST that passes the check digit: nine digits (the next number when the first
    draw has no check digit, so the demo's random sequence stays the same), then theirs."""
    number = int(f"3{rng.randrange(10**8, 10**9)}"[:9])
    while check_digit(str(number)) is None:
        number += 1
    return f"{number}{check_digit(str(number))}"
