"""The benchmark itself keeps working: a small run end to end (figures are not judged here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import wrk

pytestmark = pytest.mark.e2e


def test_quick_benchmark_run_writes_its_report(tmp_path: Path, run_bench) -> None:
    output = tmp_path / "platform.md"

    run_bench("bench.platform", "--tickets", "5000", "--quick", "--output", str(output))

    report = output.read_text()
    assert "| POST /api/v1/tickets |" in report
    assert "ix_tickets_agency_status_created" in report
    if wrk.available():  # CI installs it (.ci/run)
        assert "| POST /api/v1/tickets (wrk) |" in report
        assert "the database gained" in report


def test_quick_admin_page_benchmark_writes_its_report(tmp_path: Path, run_bench) -> None:
    output = tmp_path / "admin.md"

    run_bench("bench.admin", "--tickets", "5000", "--quick", "--output", str(output))

    report = output.read_text()
    for page in ("queue, first page", "ticket page, 50 events", "dashboard, last full month"):
        assert f"| {page} | 30 | 0 |" in report
    assert "compute_dashboard" in report
