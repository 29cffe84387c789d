"""The Celery application and the rule that jobs are queued only after the commit.

Task modules are found by name (`<package>.tasks`), so `core` imports none of ours.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES
from sqlalchemy import event
from sqlalchemy.orm import Session

from core.database import DATABASE_UNAVAILABLE_ERRORS, session_scope
from core.settings import get_settings

logger = logging.getLogger(__name__)

TASK_PACKAGES = ["feedback", "bot", "integrations.zalo", "integrations.ioc"]

celery_app = Celery("tiepdan")

EMBEDDED_TRANSPORT = "tiepdan-sqla"
TRANSPORT_ALIASES[EMBEDDED_TRANSPORT] = "core.broker:Transport"


def configure_celery(app: Celery = celery_app) -> Celery:
    """Point the Celery app at the configured broker; cheap, opens no connection."""
    settings = get_settings()
    broker_url = settings.broker_url
    if settings.is_embedded_broker:
        # kombu's SQL transport with claims (core/broker.py): a killed worker loses no job.
        broker_url = f"{EMBEDDED_TRANSPORT}+{broker_url.removeprefix('sqla+')}"
    transport_options = {}
    if broker_url.startswith("redis"):
        # A job a worker took and never acknowledged (the worker died) goes to another worker
        # after the visibility timeout; looked for every 10 s.
        transport_options = {
            "visibility_timeout": settings.broker_visibility_timeout,
            "unacked_restore_interval": 10,
            "unacked_restore_throttle": 1,
        }
    app.conf.update(
        broker_url=broker_url,
        broker_transport_options=transport_options,
        task_default_queue=settings.task_queue,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        timezone=settings.timezone,
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        beat_schedule_filename=str(settings.var_dir / "celerybeat-schedule"),
    )
    if settings.is_embedded_broker:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    # Names only: the worker imports these at start, so `core` imports none of our packages.
    app.conf.imports = [f"{package}.tasks" for package in TASK_PACKAGES]
    return app


configure_celery()

_PENDING_KEY = "tiepdan_pending_tasks"


def enqueue(session: Session, name: str, **kwargs: Any) -> None:
    """Queue task `name` with ids only; it is sent when `session` commits, dropped on rollback."""
    if not session.in_transaction():
        session.begin()  # so that a rollback, even with no SQL run yet, drops the job
    session.info.setdefault(_PENDING_KEY, []).append((name, kwargs))


@contextmanager
def tasks_withheld(session: Session) -> Iterator[None]:
    """Drop the jobs queued inside the block: for history written after the fact (the demo
    tickets), whose routing and notices belong to moments that have passed."""
    before = len(session.info.get(_PENDING_KEY, []))
    try:
        yield
    finally:
        del session.info.get(_PENDING_KEY, [])[before:]


@event.listens_for(Session, "after_commit")
def _send_pending_tasks(session: Session) -> None:
    for name, kwargs in session.info.pop(_PENDING_KEY, []):
        publish(name, **kwargs)


# A job the broker would not take (Redis restarting, a network blip) is offered again from the
# process that made it, this often and for this long: it runs seconds after the broker is back,
# where beat's sweeps would find its work only after their own delays (up to minutes).
REPUBLISH_EVERY_SECONDS = 1.0
REPUBLISH_FOR_SECONDS = 60.0


@dataclass
class _Refused:
    name: str
    kwargs: dict[str, Any]
    due: float  # time.monotonic() when it should run (its countdown)
    give_up_at: float


_refused: deque[_Refused] = deque()
_refused_lock = threading.Lock()
_republisher: threading.Thread | None = None


def publish(name: str, *, countdown: float | None = None, **kwargs: Any) -> None:
    """Send job `name` (ids only) whose data is committed. If the broker refuses it, it is
    offered again from this process every second for a minute; after that, the sweeps of beat
    (bot.answer_stale_messages, feedback.route_stale_tickets ...) find the work it left."""
    try:
        celery_app.send_task(name, kwargs=kwargs, countdown=countdown)
        return
    except Exception:
        logger.exception("could not queue task %s %s; trying again for a minute", name, kwargs)
    global _republisher
    now = time.monotonic()
    refused = _Refused(name, kwargs, now + (countdown or 0), now + REPUBLISH_FOR_SECONDS)
    with _refused_lock:
        _refused.append(refused)
        if _republisher is None or not _republisher.is_alive():
            _republisher = threading.Thread(target=_republish, name="republish", daemon=True)
            _republisher.start()


def _republish() -> None:
    """Offer the refused jobs again, oldest first, until none is left; a round stops at the
    first refusal (the broker is still away)."""
    while True:
        time.sleep(REPUBLISH_EVERY_SECONDS)
        with _refused_lock:
            if not _refused:
                return
            waiting = list(_refused)
        for job in waiting:
            now = time.monotonic()
            try:
                countdown = max(job.due - now, 0) or None
                celery_app.send_task(job.name, kwargs=job.kwargs, countdown=countdown)
            except Exception:
                if now < job.give_up_at:
                    break
                logger.error("gave up queueing task %s %s", job.name, job.kwargs)
            with _refused_lock:
                _refused.remove(job)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending_tasks(session: Session, _previous_transaction: object) -> None:
    # after_soft_rollback fires even when nothing had touched the database yet.
    if not session.in_transaction():
        session.info.pop(_PENDING_KEY, None)


P = ParamSpec("P")
R = TypeVar("R")


# A task that met the database away is tried again after 1, 2, 4 ... s (with jitter), at most
# a minute apart, for about ten minutes; after that beat's sweeps find what it left undone.
DATABASE_RETRIES = {
    "autoretry_for": DATABASE_UNAVAILABLE_ERRORS,
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "max_retries": 12,
}


def db_task(name: str, **options: Any) -> Callable[[Callable[..., R]], Any]:
    """Register a Celery task that gets a session as first argument and commits once at the end.

    Its transaction is rolled back whole when the database goes away mid-task, so it is retried
    (DATABASE_RETRIES): a restart of the database loses no job."""
    options = {**DATABASE_RETRIES, **options}

    def decorator(func: Callable[..., R]) -> Any:
        def run(**kwargs: Any) -> R:
            with session_scope() as session:
                return func(session, **kwargs)

        # Not functools.wraps: Celery would read the wrapped signature and expect `session`.
        run.__name__, run.__doc__, run.__module__ = func.__name__, func.__doc__, func.__module__
        return celery_app.task(name=name, **options)(run)

    return decorator
