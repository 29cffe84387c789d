"""The Celery worker and beat entry: the app with every task module and the periodic jobs."""

from __future__ import annotations

import logging
from typing import Any

from celery.schedules import crontab
from celery.signals import after_setup_logger, after_setup_task_logger, worker_process_init

from core.celery_app import celery_app
from core.database import dispose_engine
from core.logging import PersonalDataFilter
from core.settings import get_settings
from integrations import registry


def beat_schedule() -> dict[str, dict[str, Any]]:
    """The periodic jobs; the IOC push is there only when TIEPDAN_IOC_PUSH_URL is set, every
    TIEPDAN_IOC_PUSH_INTERVAL seconds."""
    settings = get_settings()
    schedule = dict(_SCHEDULE)
    schedule["refresh-kpis"] = {
        "task": "feedback.refresh_kpis",
        "schedule": float(settings.kpi_refresh_seconds),
    }
    if settings.ioc_push_url:
        schedule["push-ioc-snapshot"] = {
            "task": "integrations.ioc.snapshot_kpis",
            "schedule": float(settings.ioc_push_interval),
        }
        # Snapshots whose delivery is due again (the IOC was down) go out within 15 s.
        schedule["deliver-ioc-snapshots"] = {
            "task": "integrations.ioc.deliver_snapshots",
            "schedule": 15.0,
        }
    return schedule


_SCHEDULE: dict[str, dict[str, Any]] = {
    # Every 15 minutes in office hours is often enough to warn a day ahead.
    "warn-due-tickets": {"task": "feedback.warn_due_tickets", "schedule": crontab(minute="*/15")},
    "mark-overdue-tickets": {"task": "feedback.mark_overdue_tickets", "schedule": 300.0},
    "route-stale-tickets": {"task": "feedback.route_stale_tickets", "schedule": 120.0},
    # Messages whose job was lost are answered and delivered within a minute.
    "answer-stale-messages": {"task": "bot.answer_stale_messages", "schedule": 30.0},
    "deliver-due-messages": {"task": "bot.deliver_due_messages", "schedule": 15.0},
    # Notices to citizens (a staff reply, a status change) whose job was lost: within 30 s.
    "notify-missed-events": {"task": "bot.notify_missed_events", "schedule": 15.0},
    # Personal data (bot/privacy.py, bot/retention.py): Rasa conversations of forgotten people
    # that Rasa could not erase at the time, and the transcripts past their retention, at night.
    "erase-rasa-trackers": {"task": "bot.erase_rasa_trackers", "schedule": 600.0},
    "purge-old-transcripts": {
        "task": "bot.purge_old_transcripts",
        "schedule": crontab(hour=2, minute=30),
    },
    # Zalo's 25 h access token is renewed in its last hours, even when nobody writes (a no-op
    # while Zalo is off).
    "refresh-zalo-token": {"task": "integrations.zalo.refresh_token", "schedule": 3600.0},
}
celery_app.conf.beat_schedule = beat_schedule()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _mask_personal_data(logger: logging.Logger, **_: Any) -> None:
    # Celery installs its own handlers; each gets the masking filter.
    for handler in logger.handlers:
        handler.addFilter(PersonalDataFilter())


@worker_process_init.connect
def _fresh_engine_per_process(**_: Any) -> None:
    # A forked child must not share the parent's pooled connections, nor a channel client's
    # event loop and connections.
    dispose_engine()
    registry.forget()


app = celery_app
