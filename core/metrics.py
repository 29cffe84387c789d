"""Prometheus metrics, correct across several API and worker processes (multiprocess mode).

Each process writes its counters to files in TIEPDAN_METRICS_DIR (default `<var>/metrics`);
`GET /metrics` (tiepdan/metrics_api.py) adds up every process's files. `tiepdan serve` and
`tiepdan worker` remove the files of processes that are gone when they start (`clean_dir`),
so a restarted deployment starts its counters again, as Prometheus expects of a restart.

Labels are codes and states only (channel, category code, status, direction, state): never a
name, a phone number or anything a citizen wrote. The metrics are declared here, in one table,
and the places where things happen call `count` / `observe` with a name from it:

- `tiepdan_tickets_created_total{channel, category}`: tickets filed; `category` is the one
  given at filing, or `unclassified` when the NLU will choose it;
- `tiepdan_ticket_status_changes_total{from_status, to_status}`;
- `tiepdan_sla_breaches_total{category}`: open tickets found past their deadline;
- `tiepdan_csat_score`: a histogram of the citizens' ratings (1–5);
- `tiepdan_messages_total{channel, direction, state}`: inbound messages received, outbound
  messages queued, sent, delivered, seen or failed;
- `tiepdan_rasa_request_seconds`, `tiepdan_nlu_seconds`: latencies;
- queue depth and freshness gauges are read at scrape time (tiepdan/metrics_api.py).

prometheus_client chooses its storage from PROMETHEUS_MULTIPROC_DIR: this module sets that
variable (for the library; our settings stay the only reader of TIEPDAN_*) and creates the
metrics when one is first used, choosing the storage again then.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from core.settings import get_settings

_COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "tickets_created": ("Tickets filed", ("channel", "category")),
    "ticket_status_changes": ("Ticket status changes", ("from_status", "to_status")),
    "sla_breaches": ("Open tickets found past their SLA deadline", ("category",)),
    "messages": (
        "Chat messages by channel, direction and state",
        ("channel", "direction", "state"),
    ),
}
_HISTOGRAMS: dict[str, tuple[str, tuple[float, ...]]] = {
    "csat_score": ("Citizens' ratings of the handling (1-5)", (1, 2, 3, 4, 5)),
    "rasa_request_seconds": (
        "Time of one request to Rasa's REST channel",
        (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    ),
    "nlu_seconds": (
        "Time of one NLU analysis (category, ward)",
        (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    ),
}
PREFIX = "tiepdan_"

_lock = threading.Lock()
_metrics: dict[str, Any] | None = None


def metrics_dir() -> Path:
    directory = get_settings().metrics_dir
    assert directory is not None  # filled in by the settings
    return directory


def _prepare_environment() -> Path:
    directory = metrics_dir()
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return directory


def _objects() -> dict[str, Any]:
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _prepare_environment()
                from prometheus_client import Counter, Histogram, values

                # Whoever imported prometheus_client first (a library, a test's parser) may
                # have done it before the variable was set: choose the storage here. Files are
                # named by host and pid: containers sharing the var volume (docker-compose's
                # api and worker) each count pids from 1.
                values.ValueClass = values.MultiProcessValue(process_identifier=process_id)

                built: dict[str, Any] = {}
                for name, (doc, labels) in _COUNTERS.items():
                    built[name] = Counter(PREFIX + name, doc, labels, registry=None)
                for name, (doc, buckets) in _HISTOGRAMS.items():
                    built[name] = Histogram(PREFIX + name, doc, buckets=buckets, registry=None)
                _metrics = built
    return _metrics


def _label(value: object) -> str:
    # Codes only: anything else (a typo'd channel, free text by mistake) is cut to a safe shape.
    text = str(value) if value is not None else "none"
    return re.sub(r"[^a-z0-9_]", "_", text.lower())[:40] or "none"


def count(name: str, amount: float = 1, **labels: object) -> None:
    """Add to counter `name`, with code-valued labels."""
    if amount <= 0:
        return
    metric = _objects()[name]
    metric.labels(**{k: _label(v) for k, v in labels.items()}).inc(amount)


def observe(name: str, value: float, **labels: object) -> None:
    metric = _objects()[name]
    (metric.labels(**{k: _label(v) for k, v in labels.items()}) if labels else metric).observe(
        value
    )


_PENDING_KEY = "tiepdan_pending_metrics"


def record_after_commit(session: Session, name: str, value: float = 1, **labels: object) -> None:
    """Count (a counter) or observe (a histogram) once `session` commits: what is rolled back
    did not happen."""
    if not session.in_transaction():
        session.begin()
    session.info.setdefault(_PENDING_KEY, []).append((name, value, labels))


@event.listens_for(Session, "after_commit")
def _record_pending(session: Session) -> None:
    for name, value, labels in session.info.pop(_PENDING_KEY, []):
        if name in _HISTOGRAMS:
            observe(name, value, **labels)
        else:
            count(name, value, **labels)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, _previous_transaction: object) -> None:
    if not session.in_transaction():
        session.info.pop(_PENDING_KEY, None)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:40] or "host"


def process_id() -> str:
    """This process in the metric files' names: <host>-<pid>."""
    return f"{_host()}-{os.getpid()}"


_FILE = re.compile(r"_(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)\.db$")


def clean_dir() -> int:
    """Remove the metric files of this host's processes that no longer run; returns how many
    went (another container's files are its own to clean)."""
    directory = _prepare_environment()
    removed = 0
    for path in directory.glob("*.db"):
        match = _FILE.search(path.name)
        if match is None or match.group("host") != _host():
            continue
        pid = int(match.group("pid"))
        if pid != os.getpid() and not _alive(pid):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def collect(extra: Any = None) -> bytes:
    """Every process's metrics in Prometheus's text format, plus `extra` (a collector of
    gauges read at scrape time)."""
    directory = _prepare_environment()
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))
    if extra is not None:
        registry.register(extra)
    return bytes(generate_latest(registry))


def queue_depth() -> int | None:
    """Jobs waiting in this instance's Celery queue (None when the broker cannot be asked)."""
    settings = get_settings()
    try:
        if settings.broker_url.startswith("redis"):
            import redis

            client = redis.Redis.from_url(settings.broker_url, socket_timeout=1)
            try:
                return int(client.llen(settings.task_queue))  # type: ignore[arg-type]
            finally:
                client.close()
        if settings.is_embedded_broker:
            return _sql_queue_depth(settings.broker_url.removeprefix("sqla+"), settings.task_queue)
    except Exception:  # a scrape must answer even when the broker is down
        return None
    return None


_sql_engines: dict[str, Any] = {}


def _sql_queue_depth(url: str, queue: str) -> int:
    from sqlalchemy import create_engine, text

    engine = _sql_engines.get(url)
    if engine is None:
        engine = _sql_engines[url] = create_engine(url)
    with engine.connect() as connection:
        # kombu's SQLAlchemy transport: kombu_queue(id, name), kombu_message(queue_id, visible).
        row = connection.execute(
            text(
                "SELECT count(*) FROM kombu_message m JOIN kombu_queue q ON q.id = m.queue_id "
                "WHERE q.name = :queue AND m.visible"
            ),
            {"queue": queue},
        ).scalar()
    return int(row or 0)
