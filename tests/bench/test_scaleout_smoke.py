"""The scale-out benchmark keeps working: nginx, two API replicas, two workers, beat and a Redis
of its own, with a replica, a worker and Redis killed under a small load (Rasa answers at once
here). Its figures are not judged; its loss checks are."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_quick_scaleout_loses_and_doubles_nothing_under_the_kills(
    tmp_path: Path, run_bench
) -> None:
    output = tmp_path / "scaleout.md"

    run_bench(
        "bench.scaleout", "--quick", "--rasa", "instant", "--output", str(output), broker=False
    )

    report = output.read_text()
    assert "| 2 |" in report  # the throughput with two replicas
    for event in ("api-2 killed (SIGKILL)", "worker-1 killed (SIGKILL)", "Redis restarted"):
        assert event in report
    assert "| tickets left unrouted | 0 |" in report
    assert "| staff replies never pushed | 0 |" in report
    assert "Lost or doubled: **none**" in report
