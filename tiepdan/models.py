"""Every package's tables, imported in one place for Alembic and the app."""

from feedback import models as feedback_models  # noqa: F401
