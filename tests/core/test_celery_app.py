"""Jobs are sent only after the transaction commits, and dropped when it rolls back."""

from __future__ import annotations

from core.celery_app import enqueue


def test_task_is_sent_after_commit_only(db_session, sent_tasks) -> None:
    enqueue(db_session, "feedback.route_ticket", ticket_id=1)
    assert sent_tasks == []
    db_session.commit()
    assert sent_tasks == [("feedback.route_ticket", {"ticket_id": 1})]


def test_task_is_dropped_on_rollback(db_session, sent_tasks) -> None:
    enqueue(db_session, "feedback.route_ticket", ticket_id=2)
    db_session.rollback()
    db_session.commit()
    assert sent_tasks == []


def test_worker_knows_every_task_by_name() -> None:
    from tiepdan.worker import app

    app.loader.import_default_modules()
    for name in (
        "feedback.route_ticket",
        "feedback.warn_due_tickets",
        "feedback.mark_overdue_tickets",
        "feedback.route_stale_tickets",
    ):
        assert name in app.tasks
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in app.tasks
