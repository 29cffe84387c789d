"""The test's own database session, served to the app's routes in place of a new one."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy.orm import Session


def serving(db_session: Session) -> Callable[[], Iterator[Session]]:
    """An override for `get_db_session`: routes read and write through the test's session, so
    the test sees what they did and everything is rolled back with the test."""

    def session_override() -> Iterator[Session]:
        try:
            yield db_session
            db_session.commit()
        except Exception:
            db_session.rollback()
            raise

    return session_override
