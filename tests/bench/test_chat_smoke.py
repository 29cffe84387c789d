"""The web-chat benchmark keeps working: a small run with the real Rasa (figures not judged)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_quick_chat_benchmark_loses_no_message(tmp_path: Path, run_bench) -> None:
    output = tmp_path / "chat.md"

    run_bench("bench.chat", "--quick", "--output", str(output))

    report = output.read_text()
    assert "| through the gateway |" in report
    assert "Lost messages: **none**" in report
