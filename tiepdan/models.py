"""Every package's tables, imported in one place for Alembic and the app."""

from bot import models as bot_models  # noqa: F401
from feedback import kpi_models  # noqa: F401
from feedback import models as feedback_models  # noqa: F401
from integrations import models as integrations_models  # noqa: F401
from integrations.ioc import models as ioc_models  # noqa: F401
