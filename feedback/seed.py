"""Load a province configuration (and, for demos, staff logins) into the database.

Loading is idempotent: rows are matched by their codes, so running it twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.database import Base
from feedback import reference
from feedback.auth import create_user
from feedback.models import (
    Agency,
    AgencyLevel,
    AgencyWard,
    Category,
    RoutingRule,
    StaffRole,
    StaffUser,
    Ward,
)
from feedback.province import ProvinceConfig
from feedback.routing import expand_rules


@dataclass
class SeedReport:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)

    def count(self, bucket: dict[str, int], what: str) -> None:
        bucket[what] = bucket.get(what, 0) + 1

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


def _upsert(
    session: Session,
    report: SeedReport,
    model: type[Base],
    key: dict[str, Any],
    values: dict[str, Any],
) -> Base:
    row = session.scalar(select(model).filter_by(**key))
    if row is None:
        row = model(**key, **values)
        session.add(row)
        report.count(report.created, model.__tablename__)
        return row
    if any(getattr(row, name) != value for name, value in values.items()):
        for name, value in values.items():
            setattr(row, name, value)
        report.count(report.updated, model.__tablename__)
    return row


def seed_province(session: Session, *, config: ProvinceConfig) -> SeedReport:
    """Create or update the province's wards, agencies, categories and routing rules."""
    report = SeedReport()
    province_code = config.province.code
    for ward in config.wards:
        _upsert(
            session,
            report,
            Ward,
            {"code": ward.code},
            {
                "name": ward.name,
                "province_code": province_code,
                "latitude": ward.lat,
                "longitude": ward.lon,
            },
        )
    session.flush()

    agencies: dict[str, Agency] = {}
    for item in config.agencies:
        agency = _upsert(
            session,
            report,
            Agency,
            {"code": item.code},
            {
                "name": item.name,
                "level": AgencyLevel(item.level),
                "province_code": province_code,
                "active": True,
            },
        )
        assert isinstance(agency, Agency)
        agencies[item.code] = agency
    session.flush()
    for item in config.agencies:
        agency = agencies[item.code]
        current = set(
            session.scalars(select(AgencyWard.ward_code).where(AgencyWard.agency_id == agency.id))
        )
        for ward_code in set(item.wards) - current:
            session.add(AgencyWard(agency_id=agency.id, ward_code=ward_code))
            report.count(report.created, "agency_wards")

    for category in config.categories:
        _upsert(
            session,
            report,
            Category,
            {"code": category.code},
            {
                "name": category.name,
                "sla_working_days": category.sla_working_days,
                "default_agency_id": agencies[category.default_agency].id,
            },
        )
    session.flush()
    _seed_routing(session, report, config=config, agencies=agencies)
    session.flush()
    reference.forget()  # a process that seeds sees its new codes at once
    return report


def _seed_routing(
    session: Session,
    report: SeedReport,
    *,
    config: ProvinceConfig,
    agencies: dict[str, Agency],
) -> None:
    """Store the file's rules as routing.expand_rules expands them: a row per (category, ward)."""
    wanted = {
        (route.category, route.ward_code, agencies[route.agency].id): route.priority
        for route in expand_rules(config)
    }

    categories = {rule.category for rule in config.routing}
    existing = session.scalars(
        select(RoutingRule).where(RoutingRule.category_code.in_(categories))
    ).all()
    for row in existing:
        key = (row.category_code, row.ward_code, row.agency_id)
        if key not in wanted:
            session.delete(row)
            report.count(report.deleted, "routing_rules")
        elif row.priority != wanted[key]:
            row.priority = wanted.pop(key)
            report.count(report.updated, "routing_rules")
        else:
            wanted.pop(key)
    for (category_code, rule_ward, agency_id), priority in wanted.items():
        session.add(
            RoutingRule(
                category_code=category_code,
                ward_code=rule_ward,
                agency_id=agency_id,
                priority=priority,
            )
        )
        report.count(report.created, "routing_rules")


# Demo accounts for `make run`; `tiepdan seed --demo` refuses to create them in production.
DEMO_USERS = [
    ("admin", "admin-demo-123", StaffRole.ADMIN, None),
    ("dieuphoi", "dieuphoi-demo-123", StaffRole.DISPATCHER, None),
    ("soxaydung", "soxaydung-demo-123", StaffRole.AGENCY_STAFF, "SXD"),
    ("phuongtdm", "phuongtdm-demo-123", StaffRole.AGENCY_STAFF, "UBND_25747"),
    ("ioc", "ioc-demo-123", StaffRole.VIEWER, None),
]


def seed_demo(session: Session) -> list[tuple[str, str, str]]:
    """The demo staff accounts (tickets: feedback/demo.py); returns (username, password, role)
    to print."""
    accounts = []
    for username, password, role, agency_code in DEMO_USERS:
        if session.scalar(select(StaffUser).where(StaffUser.username == username)) is None:
            create_user(
                session, username=username, password=password, role=role, agency_code=agency_code
            )
        accounts.append(
            (username, password, role.value + (f" ({agency_code})" if agency_code else ""))
        )
    session.flush()
    return accounts
