"""The web-chat benchmark keeps working: a small run with the real Rasa (figures not judged)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import ADMIN_URL

pytestmark = pytest.mark.e2e


def test_quick_chat_benchmark_loses_no_message(tmp_path: Path) -> None:
    database = f"tiepdan_bench_chat_smoke_{os.getpid()}"
    output = tmp_path / "chat.md"
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.chat",
                "--quick",
                "--database",
                database,
                "--broker-url",
                "redis://127.0.0.1:6379/13",
                "--output",
                str(output),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env={k: v for k, v in os.environ.items() if not k.startswith("TIEPDAN_")},
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        report = output.read_text()
        assert "| through the gateway |" in report
        assert "Lost messages: **none**" in report
    finally:
        admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
