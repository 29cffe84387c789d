"""The IOC benchmark keeps working: a small run end to end (figures are not judged here)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_quick_ioc_benchmark_writes_its_report(tmp_path: Path, run_bench) -> None:
    output = tmp_path / "ioc.md"

    run_bench("bench.ioc", "--tickets", "5000", "--quick", "--output", str(output))

    report = output.read_text()
    for row in ("month's KPIs by agency", "month's KPIs by ward", "month's KPIs by day",
                "monthly report: pdf file"):  # fmt: skip
        assert f"| {row} |" in report
    for request in ("GET /metrics", "GET /open311/v2/requests.json, 90 days"):
        assert f"| {request} | 20 | 0 |" in report
    assert "Full rebuild from the tickets" in report
