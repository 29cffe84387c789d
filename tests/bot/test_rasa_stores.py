"""Which endpoints file Rasa starts with, and the variables that file reads."""

from __future__ import annotations

import pytest
import yaml

from bot import assistant
from core.settings import Settings


def test_development_keeps_conversations_in_memory() -> None:
    settings = Settings()
    assert assistant.endpoints_file(settings) == "endpoints.yml"
    assert assistant.store_variables(settings) == {}


def test_store_urls_are_split_into_what_the_production_file_reads() -> None:
    settings = Settings(
        rasa_tracker_store_url="postgresql://rasa:p%40ss@db.internal:6432/rasa",
        rasa_lock_store_url="redis://:secret@cache.internal:6380/2",
    )
    variables = assistant.store_variables(settings)
    assert assistant.endpoints_file(settings) == "endpoints.production.yml"
    assert variables == {
        "RASA_TRACKER_STORE_HOST": "db.internal",
        "RASA_TRACKER_STORE_PORT": "6432",
        "RASA_TRACKER_STORE_DB": "rasa",
        "RASA_TRACKER_STORE_LOGIN_DB": "postgres",
        "RASA_TRACKER_STORE_USER": "rasa",
        "RASA_TRACKER_STORE_PASSWORD": "p@ss",
        "RASA_LOCK_STORE_HOST": "cache.internal",
        "RASA_LOCK_STORE_PORT": "6380",
        "RASA_LOCK_STORE_DB": "2",
        "RASA_LOCK_STORE_PASSWORD": "secret",
    }
    # Every variable the file names is given (Rasa refuses to start on an unset one).
    text = (assistant.PROJECT_DIR / "endpoints.production.yml").read_text()
    named = {word[2:-1] for word in text.split() if word.startswith("${")}
    assert named - {"TIEPDAN_ACTIONS_URL"} == set(variables)
    assert yaml.safe_load(text)["tracker_store"]["type"] == "SQL"


def test_one_store_without_the_other_is_refused() -> None:
    with pytest.raises(ValueError, match="together"):
        Settings(rasa_tracker_store_url="postgresql://postgres@localhost/rasa")


@pytest.mark.parametrize(
    ("tracker", "lock"),
    [
        ("mysql://root@localhost/rasa", "redis://localhost/1"),
        ("postgresql://postgres@localhost", "redis://localhost/1"),
        ("postgresql://postgres@localhost/rasa", "memcached://localhost"),
    ],
)
def test_store_urls_of_another_kind_are_refused(tracker: str, lock: str) -> None:
    settings = Settings(rasa_tracker_store_url=tracker, rasa_lock_store_url=lock)
    with pytest.raises(ValueError, match="must be"):
        assistant.store_variables(settings)
