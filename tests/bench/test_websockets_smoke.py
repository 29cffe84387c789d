"""The WebSocket benchmark keeps working: a small run of both push modes and of the soak
(figures not judged, except that no push is lost and no socket closes)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_quick_websocket_benchmark_loses_no_push(tmp_path: Path, run_bench) -> None:
    output = tmp_path / "websockets.md"

    run_bench("bench.websockets", "--quick", "--output", str(output))

    report = output.read_text()
    assert "| `poll` |" in report and "| `notify` |" in report
    assert "## Soak: 100 WebSockets open" in report
    assert "100 of 100 still open at the end" in report
    assert "; 0 lost." in report
