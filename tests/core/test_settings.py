from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.settings import Settings


def test_embedded_defaults_live_under_var(tmp_path) -> None:
    settings = Settings(_env_file=None, var_dir=tmp_path, database_url="", broker_url="")
    assert settings.database_url == f"sqlite:///{tmp_path / 'tiepdan.sqlite3'}"
    assert settings.broker_url == f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    assert settings.is_embedded_broker and settings.is_sqlite


def test_production_refuses_development_secrets() -> None:
    with pytest.raises(ValidationError, match="TIEPDAN_SECRET_KEY"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="TIEPDAN_SERVICE_TOKEN"):
        Settings(environment="production", secret_key="s" * 40)
    with pytest.raises(ValidationError, match="TIEPDAN_RASA_TOKEN"):
        Settings(environment="production", secret_key="s" * 40, service_token="t" * 30)
    settings = Settings(
        environment="production", secret_key="s" * 40, service_token="t" * 30, rasa_token="r" * 30
    )
    assert settings.environment == "production"


def test_settings_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("TIEPDAN_RASA_URL", "http://rasa:5005")
    monkeypatch.setenv("PORT", "8123")
    settings = Settings()
    assert settings.rasa_url == "http://rasa:5005"
    assert settings.port == 8123
