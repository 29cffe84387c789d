"""Jobs are sent only after the transaction commits, and dropped when it rolls back; a job the
broker refused is offered again from the process that made it."""

from __future__ import annotations

import time

from core import celery_app as celery_module
from core.celery_app import enqueue, publish


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


def _refusing(times: int, sent: list[tuple[str, dict, float | None]]):
    """A broker's send that refuses the first `times` jobs (Redis restarting), then takes them."""
    refusals = iter(range(times))

    def send_task(name: str, kwargs: dict | None = None, countdown: float | None = None, **_):
        if next(refusals, None) is not None:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        sent.append((name, kwargs or {}, countdown))

    return send_task


def _until(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.01)


def test_a_job_the_broker_refused_is_sent_again_once_it_is_back(monkeypatch) -> None:
    sent: list[tuple[str, dict, float | None]] = []
    monkeypatch.setattr(celery_module.celery_app, "send_task", _refusing(3, sent))
    monkeypatch.setattr(celery_module, "REPUBLISH_EVERY_SECONDS", 0.01)

    publish("bot.answer_messages", conversation_id=7)
    publish("bot.deliver_messages", countdown=30.0, conversation_id=7)

    _until(lambda: len(sent) == 2)
    assert [(name, kwargs) for name, kwargs, _ in sent] == [
        ("bot.answer_messages", {"conversation_id": 7}),
        ("bot.deliver_messages", {"conversation_id": 7}),
    ]
    assert sent[0][2] is None
    assert sent[1][2] is not None and 29.0 < sent[1][2] <= 30.0  # still due at its time
    time.sleep(0.05)
    assert len(sent) == 2  # each once


def test_a_job_refused_for_longer_is_left_to_the_sweeps(monkeypatch, caplog) -> None:
    sent: list[tuple[str, dict, float | None]] = []
    monkeypatch.setattr(celery_module.celery_app, "send_task", _refusing(10**6, sent))
    monkeypatch.setattr(celery_module, "REPUBLISH_EVERY_SECONDS", 0.01)
    monkeypatch.setattr(celery_module, "REPUBLISH_FOR_SECONDS", 0.1)

    publish("feedback.route_ticket", ticket_id=9)

    _until(lambda: "gave up queueing task feedback.route_ticket" in caplog.text)
    _until(lambda: not celery_module._refused)
    assert sent == []
