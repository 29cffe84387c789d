"""Generated tickets: a seeded RNG turned into rows for COPY, and request bodies for the API.

Tickets are spread over the last twelve months, weighted to working days and office hours,
routed the way the province's rules would route them, and mostly resolved or closed the older
they are. The same seed gives the same codes and the same distribution.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from math import log
from zoneinfo import ZoneInfo

from bench import corpus
from feedback.sla import get_calendar

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # the app's Crockford base32

# fmt: off
# Tickets per local hour of the day: citizens write in office hours and in the evening.
_HOUR_WEIGHTS = [1, 1, 1, 1, 1, 3, 8, 16, 25, 28, 28, 25,
                 18, 20, 24, 25, 24, 19, 15, 16, 15, 11, 6, 3]
_KINDS = {"complaint": 70, "suggestion": 15, "question": 10, "business_request": 5}
_PRIORITIES = {"normal": 85, "low": 5, "high": 8, "urgent": 2}
_CHANNELS = {"zalo": 45, "web": 25, "telegram": 20, None: 10}
IDENTITY_CHANNELS = ("zalo", "telegram", "web")

# Status mix by the ticket's age in days: recent tickets are open, old ones are closed.
_STATUS_BY_AGE: list[tuple[int, dict[str, float]]] = [
    (3, {"triage": 4, "assigned": 50, "in_progress": 30, "resolved": 14, "rejected": 2}),
    (14, {"triage": 1, "assigned": 22, "in_progress": 28, "resolved": 39, "closed": 8,
          "rejected": 2}),
    (30, {"assigned": 10, "in_progress": 10, "resolved": 30, "closed": 45, "reopened": 2,
          "rejected": 3}),
    (10_000, {"assigned": 2.5, "in_progress": 1.5, "reopened": 0.5, "resolved": 8, "closed": 84.5,
              "rejected": 3}),
]
# fmt: on

TICKET_COLUMNS = (
    "id", "code", "kind", "status", "priority", "description", "ward_code", "address",
    "latitude", "longitude", "attachments", "channel", "predicted_category_code",
    "category_confidence", "category_code", "agency_id", "contact_id", "is_public",
    "created_at", "updated_at", "sla_due_at", "first_response_at", "resolved_at", "closed_at",
    "overdue_at",
)  # fmt: skip


@dataclass(frozen=True)
class Reference:
    """What the generator needs from the seeded province."""

    wards: list[tuple[str, str, float | None, float | None]]  # code, name, lat, lon
    sla_days: dict[str, int]
    province_agency: dict[str, int]  # category → agency when no ward rule applies
    ward_agency: dict[tuple[str, str], int]  # (category, ward) → agency of a ward rule
    agency_ids: dict[str, int]
    staff_user_id: int

    def agency_for(self, category: str, ward: str | None) -> int:
        """The agency `feedback.routing.choose_agency` would pick."""
        if ward is not None and (category, ward) in self.ward_agency:
            return self.ward_agency[(category, ward)]
        return self.province_agency[category]


def identity_user_id(contact_id: int) -> str:
    """The channel user id of a generated contact (the creation benchmark reuses some)."""
    return str(7_000_000_000 + contact_id * 7_919)


def identity_channel(contact_id: int) -> str:
    return IDENTITY_CHANNELS[contact_id % len(IDENTITY_CHANNELS)]


def _weighted(weights: dict) -> tuple[list, list[float]]:
    """Choices and cumulative weights, for `random.choices(..., cum_weights=...)`."""
    return list(weights), list(_cumulative(weights.values()))


def _cumulative(values: Iterable[float]) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


class TicketFactory:
    """Rows for COPY, in id order (ids grow with the creation time, as in production)."""

    def __init__(self, reference: Reference, *, seed: int, now: datetime, contacts: int) -> None:
        self.ref = reference
        self.rng = random.Random(seed)
        # Codes come from their own stream, so they do not depend on the day the bench runs.
        self._code_rng = random.Random(f"codes-{seed}")
        self.now = now
        self.contacts = contacts
        self.calendar = get_calendar()
        self._due_cache: dict[tuple[date, bool, int], datetime] = {}
        self._seen_codes: set[int] = set()
        rng = self.rng
        shuffled = reference.wards[:]
        rng.shuffle(shuffled)  # central wards get more reports: weight by a random rank
        self._wards = shuffled
        self._ward_cum = list(_cumulative(1 / (rank + 8) for rank in range(len(shuffled))))
        self._categories, self._category_cum = _weighted(corpus.CATEGORY_WEIGHTS)
        self._kinds, self._kind_cum = _weighted(_KINDS)
        self._priorities, self._priority_cum = _weighted(_PRIORITIES)
        self._channels, self._channel_cum = _weighted(_CHANNELS)
        self._status_tables = [(age, *_weighted(mix)) for age, mix in _STATUS_BY_AGE]

    # -- contacts ---------------------------------------------------------------------------

    def contact_rows(self) -> Iterator[tuple]:
        rng = self.rng
        for contact_id in range(1, self.contacts + 1):
            business = rng.random() < 0.05
            consent = rng.random() < 0.6
            name = " ".join(
                (
                    rng.choice(corpus.FAMILY_NAMES),
                    rng.choice(corpus.MIDDLE_NAMES),
                    rng.choice(corpus.GIVEN_NAMES),
                )
            )
            company = None
            if business:
                company = f"{rng.choice(corpus.COMPANY_KINDS)} {rng.choice(corpus.COMPANY_NAMES)}"
            yield (
                contact_id,
                "business" if business else "citizen",
                name,
                f"09{rng.randrange(10**8):08d}" if consent else None,
                consent,
                company,
                f"03{rng.randrange(10**8):08d}" if business else None,
                self.now - timedelta(days=rng.uniform(0, 400)),
            )

    def identity_rows(self) -> Iterator[tuple]:
        for contact_id in range(1, self.contacts + 1):
            yield contact_id, contact_id, identity_channel(contact_id), identity_user_id(contact_id)

    # -- tickets ----------------------------------------------------------------------------

    def creation_times(self, count: int) -> Iterator[datetime]:
        """`count` moments over the 365 days before today (local), in increasing order."""
        rng = self.rng
        today = self.now.astimezone(LOCAL).date()
        days = [today - timedelta(days=n) for n in range(365, 0, -1)]
        # Fewer reports at weekends, and a little growth over the year as the service is known.
        weights = [
            (0.5 if day.weekday() >= 5 else 1.0) * (0.8 + 0.4 * i / len(days))
            for i, day in enumerate(days)
        ]
        total = sum(weights)
        done = 0
        running = 0.0
        for day, weight in zip(days, weights, strict=True):
            running += weight
            upto = round(count * running / total)
            midnight = datetime.combine(day, clock(0), tzinfo=LOCAL).astimezone(UTC)
            hours = rng.choices(range(24), weights=_HOUR_WEIGHTS, k=upto - done)
            seconds = sorted(h * 3600 + rng.random() * 3600 for h in hours)
            for second in seconds:
                yield midnight + timedelta(seconds=second)
            done = upto

    def ticket_rows(self, count: int) -> Iterator[tuple]:
        for ticket_id, created_at in enumerate(self.creation_times(count), start=1):
            yield self._ticket(ticket_id, created_at)

    def _ticket(self, ticket_id: int, created: datetime) -> tuple:
        rng = self.rng
        category = rng.choices(self._categories, cum_weights=self._category_cum)[0]
        ward = None
        ward_name = ""
        lat = lon = None
        if rng.random() < 0.94:
            code, ward_name, ward_lat, ward_lon = rng.choices(
                self._wards, cum_weights=self._ward_cum
            )[0]
            ward = code
            if ward_lat is not None and ward_lon is not None and rng.random() < 0.6:
                lat = ward_lat + rng.uniform(-0.01, 0.01)
                lon = ward_lon + rng.uniform(-0.01, 0.01)
        street = rng.choice(corpus.STREETS)
        number = rng.randrange(1, 400)
        description = rng.choice(corpus.DESCRIPTIONS[category]).format(n=number, street=street)
        description += rng.choice(corpus.CLOSINGS)
        address = f"{number} {street}, {ward_name}" if ward and rng.random() < 0.8 else None

        status = self._status(created)
        times = self._timeline(status, created, self.ref.sla_days[category])
        if status == "triage":
            predicted = category
            confidence = rng.uniform(0.2, 0.59)
            category_code = agency_id = sla_due = None
        else:
            nlu = rng.random() < 0.65
            predicted = category if nlu else None
            confidence = rng.uniform(0.6, 0.99) if nlu else 1.0
            category_code = category
            agency_id = self.ref.agency_for(category, ward)
            sla_due = self._due_at(created, self.ref.sla_days[category])
        first_response, resolved, closed, updated = times
        overdue = None
        if sla_due is not None and status != "rejected":
            finished = resolved or self.now  # an open ticket is late once now passes the due time
            if finished > sla_due + timedelta(minutes=15):
                overdue = sla_due + timedelta(minutes=15)
        return (
            ticket_id,
            self._code(),
            rng.choices(self._kinds, cum_weights=self._kind_cum)[0],
            status,
            rng.choices(self._priorities, cum_weights=self._priority_cum)[0],
            description,
            ward,
            address,
            lat,
            lon,
            "[]",
            rng.choices(self._channels, cum_weights=self._channel_cum)[0],
            predicted,
            confidence,
            category_code,
            agency_id,
            rng.randint(1, self.contacts) if self.contacts and rng.random() < 0.85 else None,
            status in ("resolved", "closed") and rng.random() < 0.08,
            created,
            updated,
            sla_due,
            first_response,
            resolved,
            closed,
            overdue,
        )

    def _status(self, created: datetime) -> str:
        age_days = (self.now - created).total_seconds() / 86_400
        for max_age, statuses, cum in self._status_tables:
            if age_days < max_age:
                return self.rng.choices(statuses, cum_weights=cum)[0]
        raise AssertionError("the last age bucket is open-ended")

    def _timeline(
        self, status: str, created: datetime, sla_days: int
    ) -> tuple[datetime | None, datetime | None, datetime | None, datetime]:
        """(first response, resolved, closed, updated) consistent with the status."""
        rng = self.rng
        # Hours after creation; scaled down when the plan would run past now.
        routed = 5 / 3600
        first = rng.lognormvariate(log(18), 1.0)
        resolve = first + rng.lognormvariate(log(sla_days * 24 * 0.6), 0.7)
        close = resolve + rng.lognormvariate(log(72), 0.5)
        last = {
            "triage": routed,
            "assigned": routed,
            "in_progress": first,
            "rejected": first,
            "resolved": resolve,
            "reopened": close,
            "closed": close,
        }[status]
        room = (self.now - created).total_seconds() / 3600 - 0.05
        if last > room:
            scale = room / last * rng.uniform(0.5, 0.95)
            routed, first, resolve, close = (h * scale for h in (routed, first, resolve, close))
            last *= scale

        def at(hours: float) -> datetime:
            return created + timedelta(hours=hours)

        answered = status in ("resolved", "closed", "reopened") or (
            status == "in_progress" and rng.random() < 0.6
        )
        first_response = at(first) if answered else None
        resolved = at(resolve) if status in ("resolved", "closed") else None
        closed = at(close) if status == "closed" else None
        return first_response, resolved, closed, at(last)

    def _due_at(self, created: datetime, sla_days: int) -> datetime:
        # The deadline depends only on the local day and on whether it was filed after closing.
        local = created.astimezone(LOCAL)
        after_close = local.time() >= clock(17, 0)
        key = (local.date(), after_close, sla_days)
        due = self._due_cache.get(key)
        if due is None:
            moment = datetime.combine(key[0], clock(18 if after_close else 8), tzinfo=LOCAL)
            due = self._due_cache[key] = self.calendar.due_at(moment, sla_days)
        return due

    def _code(self) -> str:
        # 40 random bits, as 8 Crockford base32 characters; a repeat is drawn again.
        while True:
            value = self._code_rng.getrandbits(40)
            if value not in self._seen_codes:
                self._seen_codes.add(value)
                break
        chars = []
        for _ in range(8):
            chars.append(_CODE_ALPHABET[value & 31])
            value >>= 5
        return "PA" + "".join(chars)


def creation_bodies(reference: Reference, contacts: int, count: int) -> list[bytes]:
    """JSON bodies as the bot's action server sends them, serialised before the clock starts.

    Half the senders are known (an existing channel identity), a third are new, the rest give
    no contact; seven in ten tickets come with a category, the others wait for the classifier.
    """
    rng = random.Random(7)
    categories, weights = list(corpus.CATEGORY_WEIGHTS), list(corpus.CATEGORY_WEIGHTS.values())
    bodies = []
    for number in range(count):
        category = rng.choices(categories, weights=weights)[0]
        ward_code, ward_name, _, _ = rng.choice(reference.wards)
        street = rng.choice(corpus.STREETS)
        house = rng.randrange(1, 400)
        body: dict[str, object] = {
            "description": rng.choice(corpus.DESCRIPTIONS[category]).format(n=house, street=street),
            "ward_code": ward_code,
            "address": f"{house} {street}, {ward_name}",
            "channel": "zalo",
        }
        if rng.random() < 0.7:
            body["category"] = category
        draw = rng.random()
        if draw < 0.5:
            contact_id = rng.randint(1, contacts)
            body["channel"] = identity_channel(contact_id)
            body["contact"] = {
                "channel": identity_channel(contact_id),
                "channel_user_id": identity_user_id(contact_id),
            }
        elif draw < 0.85:
            body["contact"] = {
                "name": "Người dân",
                "channel": "zalo",
                "channel_user_id": f"bench-new-{number}",
            }
        bodies.append(json.dumps(body, ensure_ascii=False).encode())
    return bodies
