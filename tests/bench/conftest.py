"""What the benchmark smoke tests share: running a benchmark module on a throwaway database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import ADMIN_URL

RunBench = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_bench(request: pytest.FixtureRequest) -> Iterator[RunBench]:
    """`run_bench("bench.chat", "--quick", ...)` on a database dropped afterwards."""
    database = f"tiepdan_{request.node.name[:30]}_{os.getpid()}"

    def run(module: str, *args: str, broker: bool = True) -> subprocess.CompletedProcess[str]:
        # Without `broker`, the benchmark runs a Redis of its own (bench.scaleout restarts it).
        shared_broker = ["--broker-url", "redis://127.0.0.1:6379/13"] if broker else []
        result = subprocess.run(
            [sys.executable, "-m", module, *args, "--database", database, *shared_broker],
            capture_output=True,
            text=True,
            timeout=600,
            env={k: v for k, v in os.environ.items() if not k.startswith("TIEPDAN_")},
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        return result

    yield run
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    admin.dispose()
