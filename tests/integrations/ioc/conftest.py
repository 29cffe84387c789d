"""What the IOC tests share: API keys, and tickets filed and moved through the real services."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from feedback.apikeys import create_api_key
from feedback.auth import Principal
from feedback.models import ApiKeyScope

OPERATOR = Principal(kind="system", username="test-operator")


@pytest.fixture
def api_key(db_session: Session) -> Callable[[str], str]:
    """Create a key of this scope (committed to the test's savepoint); return the secret."""

    def make(scope: str) -> str:
        new = create_api_key(
            db_session, name=f"test {scope}", scope=ApiKeyScope(scope), actor=OPERATOR
        )
        db_session.commit()
        return new.secret

    return make
