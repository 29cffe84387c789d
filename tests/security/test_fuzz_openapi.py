"""The API fuzzed from its own OpenAPI schema (schemathesis): generated requests to every
operation, as the bot's service token and as an admin, and not one may end in a server error.

Bounded and repeatable for CI: a few examples per operation, derandomised, no example database.
Run it alone with `.venv/bin/python -m pytest tests/security/test_fuzz_openapi.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy.orm import Session

from core.http import get_db_session
from core.settings import get_settings
from tests.bot.conftest import forget_chats
from tests.e2e.processes import free_port
from tests.sessions import serving
from tiepdan.app import create_app

EXAMPLES = 12


# Built at collection: schemathesis makes one test per operation from the schema it reads here
# (its lazy, fixture-based loader does not work with pytest 9). The app's database session is
# swapped for the test's in `on_test_session`, per test.
# Reading the schema starts the app's lifespan, which schemathesis keeps running and stops later
# from another event loop: the app polls for web-chat pushes, so no LISTEN task is left behind
# on a loop that is gone (the fuzzing never opens a WebSocket).
_push = get_settings().webchat_push
get_settings().webchat_push = "poll"
APP = create_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
get_settings().webchat_push = _push


@pytest.fixture(autouse=True)
def on_test_session(
    db_session: Session, sent_tasks: list[Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The app on the test's rolled-back session, with Rasa down (a closed port)."""
    monkeypatch.setattr(get_settings(), "rasa_url", f"http://127.0.0.1:{free_port()}")

    session_override = serving(db_session)
    APP.dependency_overrides[get_db_session] = session_override
    yield
    APP.dependency_overrides.clear()
    forget_chats()  # the web chat commits in its own transactions


@pytest.fixture
def callers(staff_token: Any, service_headers: dict[str, str]) -> list[dict[str, str]]:
    return [service_headers, staff_token("admin")]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_a_server_error(case: Any, callers: list[dict[str, str]]) -> None:
    for headers in callers:
        case.call_and_validate(headers=headers, checks=[not_a_server_error])
