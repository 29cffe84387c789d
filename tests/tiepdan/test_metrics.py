"""`GET /metrics`, parsed with prometheus-client's own parser: the counts of several processes
add up, the labels carry codes only, and the token guards it when set."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.settings import get_settings
from tests.feedback.helpers import file_and_route

REPORT = {
    "description": "Rác thải ùn ứ ở hẻm 45 Lê Lợi, gọi 0912 345 678",
    "ward_code": "25747",
    "category": "moi_truong",
    "channel": "zalo",
}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_the_counts_of_several_processes_add_up(client):
    before = _samples(client.get("/metrics").text)
    code = (
        "from core import metrics\n"
        "for _ in range(5):\n"
        "    metrics.count('messages', channel='telegram', direction='inbound', state='received')\n"
        "metrics.observe('rasa_request_seconds', 0.2)\n"
    )
    for _ in range(2):  # two worker processes, one after the other, each with its own file
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

    after = _samples(client.get("/metrics").text)

    name = "tiepdan_messages_total"
    labels = {"channel": "telegram", "direction": "inbound", "state": "received"}
    assert _value(after, name, **labels) - _value(before, name, **labels) == 10
    count = "tiepdan_rasa_request_seconds_count"
    assert _value(after, count) - _value(before, count) == 2


def test_filing_and_moving_a_ticket_is_counted_with_codes_only(client, db_session, service_headers):
    before = _samples(client.get("/metrics").text)

    file_and_route(client, db_session, service_headers, REPORT)
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)
    created = ("tiepdan_tickets_created_total", {"channel": "zalo", "category": "moi_truong"})
    assert _value(after, created[0], **created[1]) - _value(before, created[0], **created[1]) == 1
    routed = {"from_status": "new", "to_status": "assigned"}
    assert _value(after, "tiepdan_ticket_status_changes_total", **routed) >= 1
    names = {name for name, _ in after}
    assert "tiepdan_celery_queue_depth" in names
    for _name, labels in after:
        for key, value in labels:
            assert re.fullmatch(r"[a-z0-9_.+]*|\+Inf", value), (key, value)
    # The whole number, not "0912": a sample's value (0.0912...) can hold those digits.
    assert "0912 345 678" not in response.text and "0912345678" not in response.text
    assert "Lê Lợi" not in response.text


def test_a_token_guards_the_metrics_when_set(client, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(get_settings(), "metrics_token", "scrape-token-123")

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-123"})
    assert ok.status_code == 200 and "tiepdan_celery_queue_depth" in ok.text


def test_starting_a_process_removes_the_files_of_processes_that_are_gone(tmp_path):
    from core import metrics

    directory = metrics.metrics_dir()
    code = "from core import metrics; metrics.count('sla_breaches', category='dat_dai')"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    mine = f"counter_{metrics.process_id()}.db"
    other_host = directory / "counter_otherhost-1.db"
    other_host.write_bytes(b"")
    gone = [p for p in directory.glob("counter_*.db") if p.name not in (mine, other_host.name)]
    assert gone  # the subprocess's file, named <host>-<pid>

    removed = metrics.clean_dir()

    assert removed >= 1 and not any(p.exists() for p in gone)
    assert other_host.exists()  # another container's file is not ours to remove
    other_host.unlink()
