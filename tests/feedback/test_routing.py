"""The NLU plugged into the routing job: category, ward and duplicate flag on real tickets."""

from __future__ import annotations

import pytest

from feedback import service
from feedback.auth import SERVICE
from feedback.classifier import NluClassifier, NoClassifier
from feedback.models import TicketStatus
from feedback.routing import route_ticket
from feedback.schemas import TicketCreate


@pytest.fixture
def classifier(nlu_model, monkeypatch):
    monkeypatch.setattr("nlu.pipeline._nlu", nlu_model)
    return NluClassifier()


def _file_and_route(db_session, classifier, description: str, **fields):
    ticket = service.create_ticket(
        db_session, data=TicketCreate(description=description, **fields), actor=SERVICE
    )
    db_session.flush()
    return route_ticket(db_session, ticket_id=ticket.id, classifier=classifier)


def test_an_uncategorised_ticket_is_routed_by_category_and_ward(db_session, classifier, sent_tasks):
    ticket = _file_and_route(
        db_session, classifier, "Rác thải ứ đọng đầu hẻm 12, P. Phú Cường, TP Thủ Dầu Một, bốc mùi"
    )
    assert ticket.predicted_category_code == "moi_truong"
    assert ticket.category_code == "moi_truong"
    assert ticket.ward_code == "25747"  # resolved from the old ward name
    assert ticket.status == TicketStatus.ASSIGNED
    assert ticket.agency is not None and ticket.agency.code == "UBND_25747"


def test_a_low_confidence_ticket_goes_to_triage(db_session, classifier, sent_tasks):
    ticket = _file_and_route(db_session, classifier, "phản ánh việc ở khu phố")  # of what?
    assert ticket.status == TicketStatus.TRIAGE
    assert ticket.category_code is None
    assert ticket.predicted_category_code is not None


def test_a_second_report_of_the_same_problem_is_flagged(db_session, classifier, sent_tasks):
    first = _file_and_route(
        db_session,
        classifier,
        "Đèn đường trước số 45 Nguyễn Trãi, phường Bến Thành tắt từ thứ Hai, tối đi rất tối.",
    )
    assert first.status == TicketStatus.ASSIGNED and first.duplicate_of_id is None
    second = _file_and_route(
        db_session, classifier, "den duong truoc so 45 nguyen trai p ben thanh bi hu may ngay roi"
    )
    assert second.duplicate_of_id == first.id
    assert second.events[-1].kind == "duplicate_suspected"
    assert second.events[-1].data["of"] == first.code
    other = _file_and_route(
        db_session, classifier, "Cây xanh trên đường Lê Thánh Tôn phường Bến Thành sắp đổ"
    )
    assert other.duplicate_of_id is None


def test_of_two_reports_filed_together_the_later_is_the_duplicate_whatever_routes_first(
    db_session, classifier, sent_tasks
):
    """Two workers route two reports of one problem at once: each must not mark the other (a
    cycle, or a deadlock of their row locks that fails one routing job). Only the earlier one
    can be the original, whichever job runs first."""

    def file(description: str):  # at the desk: category and ward given, no waiting for the NLU
        data = TicketCreate(description=description, category="dien_nuoc", ward_code="26740")
        ticket = service.create_ticket(db_session, data=data, actor=SERVICE)
        db_session.flush()
        return ticket

    first = file("Đèn đường trước số 45 Nguyễn Trãi, phường Bến Thành tắt từ thứ Hai.")
    second = file("den duong truoc so 45 nguyen trai p ben thanh bi hu may ngay roi")

    route_ticket(db_session, ticket_id=first.id, classifier=classifier)
    route_ticket(db_session, ticket_id=second.id, classifier=classifier)

    assert first.duplicate_of_id is None
    assert second.duplicate_of_id == first.id


def test_without_a_trained_model_tickets_go_to_triage(
    db_session, monkeypatch, sent_tasks, tmp_path
):
    from core.settings import get_settings
    from nlu import pipeline

    monkeypatch.setattr(pipeline, "_nlu", None)
    monkeypatch.setattr(get_settings(), "nlu_model_dir", tmp_path / "missing")
    ticket = _file_and_route(db_session, NluClassifier(), "Đèn đường hỏng ở phường Bến Thành")
    assert ticket.status == TicketStatus.TRIAGE


# --- One rule book: the file (RuleBook) and the database (choose_agency) agree ---------------


def _agree_everywhere(db_session, config) -> None:
    from feedback.routing import RuleBook, choose_agency

    book = RuleBook(config)
    wards: list[str | None] = [w.code for w in config.wards]
    for category in config.categories:
        for ward in [*wards, None]:
            chosen = choose_agency(db_session, category_code=category.code, ward_code=ward)
            expected = book.agency_for(category.code, ward)
            assert (chosen.code if chosen else None) == expected, (category.code, ward)


def test_the_file_and_the_database_route_every_category_and_ward_alike(db_session):
    from feedback.province import default_province_file, load_province

    _agree_everywhere(db_session, load_province(default_province_file()))


def test_a_province_wide_rule_above_a_ward_rule_routes_alike(db_session, tmp_path):
    """A department rule with a higher priority than `to: ward`: the ward's own rule still
    wins, in the database and in the file's reading alike."""
    import yaml

    from feedback.province import default_province_file, load_province
    from feedback.seed import seed_province

    raw = yaml.safe_load(default_province_file().read_text(encoding="utf-8"))
    raw["routing"].append({"category": "moi_truong", "to": "SNNMT", "priority": 500})
    path = tmp_path / "province.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    config = load_province(path)
    seed_province(db_session, config=config)
    db_session.flush()

    _agree_everywhere(db_session, config)


def test_a_shared_location_routes_to_the_ward_whose_centre_is_nearest(db_session, sent_tasks):
    from feedback.models import Ward
    from feedback.routing import WARD_FROM_LOCATION

    ben_thanh = db_session.get(Ward, "26740")
    assert ben_thanh is not None and ben_thanh.latitude is not None
    ticket = _file_and_route(
        db_session,
        NoClassifier(),
        "Cây đổ chắn ngang đường",
        category="moi_truong",
        latitude=ben_thanh.latitude + 0.001,
        longitude=ben_thanh.longitude,
    )
    assert ticket.ward_code == "26740"
    assert ticket.agency is not None and ticket.agency.code == "UBND_26740"
    routed = ticket.events[-1]
    assert routed.kind == "routed" and routed.message == WARD_FROM_LOCATION


def test_a_location_outside_the_province_leaves_the_ward_to_the_text(db_session, sent_tasks):
    ticket = _file_and_route(
        db_session,
        NoClassifier(),
        "Cây đổ chắn ngang đường",
        category="moi_truong",
        latitude=21.0278,  # Hà Nội
        longitude=105.8342,
    )
    assert ticket.ward_code is None
    assert ticket.agency is not None and ticket.agency.code == "SNNMT"  # the category's default
