"""Seeding the province: idempotent, and a changed file changes exactly what changed.

The test database is already seeded with the bundled Hồ Chí Minh City file (tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from feedback.models import Agency, AgencyWard, Category, RoutingRule, Ward
from feedback.province import default_province_file, load_province
from feedback.routing import choose_agency
from feedback.seed import seed_province

TABLES = (Ward, Agency, AgencyWard, Category, RoutingRule)
# An extra rule that a province might add: traffic matters in Thủ Dầu Một go to its committee.
EXTRA_RULE = {"category": "giao_thong", "to": "UBND_25747", "priority": 50, "wards": ["25747"]}


def row_counts(db_session) -> dict[str, int]:
    return {
        model.__tablename__: db_session.scalar(select(func.count()).select_from(model))
        for model in TABLES
    }


def province_file(tmp_path: Path, name: str, change=None) -> Path:
    """A copy of the bundled province file, edited by `change(raw)`."""
    raw = yaml.safe_load(default_province_file().read_text(encoding="utf-8"))
    if change is not None:
        change(raw)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def seed(db_session, path: Path):
    report = seed_province(db_session, config=load_province(path))
    db_session.flush()
    return report


def category(raw: dict, code: str) -> dict:
    return next(c for c in raw["categories"] if c["code"] == code)


def agency_for(db_session, category_code: str, ward_code: str | None) -> str:
    agency = choose_agency(db_session, category_code=category_code, ward_code=ward_code)
    assert agency is not None
    return agency.code


def test_the_seeded_province_has_its_wards_agencies_and_expanded_rules(db_session):
    counts = row_counts(db_session)

    assert counts["wards"] == 168
    assert counts["agencies"] == 179
    assert counts["agency_wards"] == 168  # each committee serves exactly its own unit
    assert counts["categories"] == 14
    # Four `to: ward` rules expand to one row per ward; ten department rules are one row each.
    assert counts["routing_rules"] == 4 * 168 + 10


def test_seeding_the_same_file_twice_changes_nothing(db_session):
    before = row_counts(db_session)

    first = seed_province(db_session, config=load_province(default_province_file()))
    second = seed_province(db_session, config=load_province(default_province_file()))

    assert not first.changed  # conftest seeded this very file
    assert not second.changed
    assert (second.created, second.updated, second.deleted) == ({}, {}, {})
    assert row_counts(db_session) == before


def test_a_yaml_round_trip_of_the_file_is_the_same_province(db_session, tmp_path):
    """The tests below edit a dumped copy; the dump itself must change nothing."""
    assert not seed(db_session, province_file(tmp_path, "copy")).changed


def test_a_changed_sla_and_a_removed_rule_update_and_delete_exactly_those(db_session, tmp_path):
    with_rule = province_file(tmp_path, "with-rule", lambda raw: raw["routing"].append(EXTRA_RULE))
    added = seed(db_session, with_rule)
    assert (added.created, added.updated, added.deleted) == ({"routing_rules": 1}, {}, {})
    assert agency_for(db_session, "giao_thong", "25747") == "UBND_25747"
    counts = row_counts(db_session)

    def change_sla(raw: dict) -> None:
        category(raw, "giao_thong")["sla_working_days"] = 4

    changed = seed(db_session, province_file(tmp_path, "changed", change_sla))

    assert changed.changed
    assert changed.created == {}
    assert changed.updated == {"categories": 1}
    assert changed.deleted == {"routing_rules": 1}
    assert db_session.get(Category, "giao_thong").sla_working_days == 4
    assert db_session.get(Category, "ha_tang_do_thi").sla_working_days == 7
    assert row_counts(db_session) == counts | {"routing_rules": counts["routing_rules"] - 1}
    assert agency_for(db_session, "giao_thong", "25747") == "SXD"
    assert not seed(db_session, province_file(tmp_path, "again", change_sla)).changed


def test_a_changed_priority_updates_the_rule_in_place(db_session, tmp_path):
    def lower(raw: dict) -> None:
        next(r for r in raw["routing"] if r["category"] == "y_te")["priority"] = 5

    report = seed(db_session, province_file(tmp_path, "priority", lower))

    assert (report.created, report.updated, report.deleted) == ({}, {"routing_rules": 1}, {})
    rule = db_session.scalars(select(RoutingRule).where(RoutingRule.category_code == "y_te")).one()
    assert rule.priority == 5


def test_narrowing_a_ward_rule_deletes_only_the_wards_left_out(db_session, tmp_path):
    def narrow(raw: dict) -> None:
        rule = next(r for r in raw["routing"] if r["category"] == "dat_dai")
        rule["wards"] = ["25747", "25750"]

    report = seed(db_session, province_file(tmp_path, "narrow", narrow))

    assert report.deleted == {"routing_rules": 166}
    assert report.created == {} and report.updated == {}
    assert agency_for(db_session, "dat_dai", "25747") == "UBND_25747"
    assert agency_for(db_session, "dat_dai", "25760") == "SNNMT"  # the category default


@pytest.mark.parametrize(
    "change, updated",
    [
        (lambda raw: raw["agencies"][1].update(name="Sở Xây dựng TP.HCM"), {"agencies": 1}),
        (lambda raw: raw["wards"][0].update(lat=11.0), {"wards": 1}),
        (lambda raw: category(raw, "khac").update(name="Khác (chưa phân loại)"), {"categories": 1}),
        (lambda raw: category(raw, "y_te").update(default_agency="SNV"), {"categories": 1}),
    ],
    ids=["agency-name", "ward-position", "category-name", "category-default-agency"],
)
def test_one_changed_row_is_one_update(change, updated, db_session, tmp_path):
    report = seed(db_session, province_file(tmp_path, "one", change))

    assert (report.created, report.updated, report.deleted) == ({}, updated, {})


def test_an_invalid_file_is_refused_before_anything_is_written(db_session, tmp_path):
    before = row_counts(db_session)

    def break_it(raw: dict) -> None:
        raw["routing"].append({"category": "giao_thong", "to": "SO_KHONG_CO"})

    with pytest.raises(ValueError, match="SO_KHONG_CO"):
        seed(db_session, province_file(tmp_path, "broken", break_it))
    assert row_counts(db_session) == before
