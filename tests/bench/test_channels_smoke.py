"""The channels benchmark keeps working: a small run against the fakes (figures not judged)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_quick_channels_benchmark_loses_and_doubles_nothing(tmp_path: Path, run_bench) -> None:
    output = tmp_path / "channels.md"

    run_bench("bench.channels", "--quick", "--output", str(output))

    report = output.read_text()
    assert "| Telegram's added cost |" in report and "| Zalo's added cost |" in report
    assert "Lost or doubled replies: **none**" in report
