"""Reading modules of the Rasa project (bot/rasa/) from the platform's tests."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from bot.assistant import PROJECT_DIR


def load_rasa_module(relative: str) -> ModuleType:
    """A plain-Python module of the Rasa project, loaded by path: its packages (actions,
    components) are not on the platform's path, and rasa-sdk is not installed here."""
    path = PROJECT_DIR / relative
    spec = importlib.util.spec_from_file_location(f"rasa_project_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
