"""The production deployment: docker-compose.yml renders, and says what DESIGN.md promises.

`docker-compose config` (v1) or `docker compose config` (v2) validates and renders the file without
a Docker engine. Without either CLI the tests skip, except under CI, which installs one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"

SECRETS = {
    "POSTGRES_PASSWORD": "0123456789abcdef0123456789abcdef",
    "TIEPDAN_SECRET_KEY": "test-secret-key-with-at-least-32-characters",
    "TIEPDAN_SERVICE_TOKEN": "test-service-token-24-chars-or-more",
    "TIEPDAN_RASA_TOKEN": "test-rasa-token",
}
APP_SERVICES = ("api", "worker", "beat")
SERVICES = {"postgres", "redis", "migrate", "api", "worker", "beat", "rasa", "actions"}


def _find_compose_cli() -> list[str] | None:
    candidates = []
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    for cli in candidates:
        try:
            result = subprocess.run(
                [*cli, "version"], capture_output=True, text=True, timeout=60, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if result.returncode == 0:
            return cli
    return None


@pytest.fixture(scope="module")
def compose_cli() -> list[str]:
    cli = _find_compose_cli()
    if cli is None:
        message = (
            "no Compose CLI: neither `docker-compose` nor `docker compose` works here "
            "(Debian: apt-get install docker-compose). `config` needs no Docker engine."
        )
        if os.environ.get("CI"):
            pytest.fail(message + " CI installs one, so this is a broken CI image.")
        pytest.skip(message)
    return cli


@pytest.fixture(scope="module")
def empty_env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Point compose at an empty env file so that a developer's own .env cannot leak into the tests.
    path = tmp_path_factory.mktemp("compose") / "empty.env"
    path.write_text("")
    return path


def _run_config(
    cli: list[str], env_file: Path, variables: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TIEPDAN_", "POSTGRES_", "COMPOSE_"))
    }
    env.update(variables)
    return subprocess.run(
        [*cli, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def rendered(compose_cli: list[str], empty_env_file: Path) -> dict[str, Any]:
    result = _run_config(compose_cli, empty_env_file, SECRETS)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def _healthcheck_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def test_config_is_valid_with_the_secrets_set(compose_cli: list[str], empty_env_file: Path) -> None:
    result = _run_config(compose_cli, empty_env_file, SECRETS, "-q")
    assert result.returncode == 0, result.stderr


def test_rasa_keeps_conversations_in_postgres_with_every_variable_it_reads(
    rendered: dict[str, Any],
) -> None:
    rasa = rendered["services"]["rasa"]
    endpoints = rasa["command"][rasa["command"].index("--endpoints") + 1]
    assert endpoints == "/app/project/endpoints.production.yml"
    text = (ROOT / "bot" / "rasa" / "endpoints.production.yml").read_text()
    named = {word[2:-1] for word in text.split() if word.startswith("${")}
    assert named <= set(rasa["environment"])
    assert rasa["environment"]["RASA_TRACKER_STORE_HOST"] == "postgres"


def test_services_are_exactly_those_of_the_design(rendered: dict[str, Any]) -> None:
    assert set(rendered["services"]) == SERVICES


def test_rasa_runs_the_pinned_image_and_the_action_server_the_sdk(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    assert services["rasa"]["image"] == "rasa/rasa:3.6.21-full"
    assert services["actions"]["image"].startswith("rasa/rasa-sdk:3.6.")
    assert services["actions"]["environment"]["TIEPDAN_PLATFORM_URL"] == "http://api:8000"
    assert (
        services["actions"]["environment"]["TIEPDAN_SERVICE_TOKEN"]
        == SECRETS["TIEPDAN_SERVICE_TOKEN"]
    )


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_processes_wait_for_migrations_and_redis(rendered: dict[str, Any], name: str) -> None:
    depends_on = rendered["services"][name]["depends_on"]
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"
    assert depends_on["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", ["migrate", *APP_SERVICES])
def test_app_processes_share_one_image_and_the_production_settings(
    rendered: dict[str, Any], name: str
) -> None:
    services = rendered["services"]
    service = services[name]
    assert service["image"] == services["api"]["image"]
    environment = service["environment"]
    assert environment["TIEPDAN_ENVIRONMENT"] == "production"
    assert environment["TIEPDAN_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in environment["TIEPDAN_DATABASE_URL"]
    assert environment["TIEPDAN_BROKER_URL"].startswith("redis://redis:6379/")
    assert environment["TIEPDAN_RASA_URL"] == "http://rasa:5005"
    for secret in ("TIEPDAN_SECRET_KEY", "TIEPDAN_SERVICE_TOKEN", "TIEPDAN_RASA_TOKEN"):
        assert environment[secret] == SECRETS[secret]


def test_migrate_is_a_one_shot_upgrade_and_seed_without_demo_data(
    rendered: dict[str, Any],
) -> None:
    migrate = rendered["services"]["migrate"]
    command = " ".join(migrate["command"])
    assert "tiepdan db upgrade" in command
    assert "tiepdan seed" in command
    assert "--demo" not in command
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_beat_runs_exactly_once(rendered: dict[str, Any]) -> None:
    beat = rendered["services"]["beat"]
    assert beat["command"] == ["tiepdan", "beat"]
    assert beat["deploy"]["replicas"] == 1


def test_postgres_and_redis_have_healthchecks(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    assert "pg_isready" in _healthcheck_command(services["postgres"])
    assert "redis-cli ping" in _healthcheck_command(services["redis"])


def test_api_healthcheck_hits_healthz(rendered: dict[str, Any]) -> None:
    api = rendered["services"]["api"]
    assert "/healthz" in _healthcheck_command(api)
    assert any(str(port.get("target", port)).endswith("8000") for port in api["ports"])


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_config_refuses_a_missing_secret(
    compose_cli: list[str], empty_env_file: Path, secret: str
) -> None:
    variables = {name: value for name, value in SECRETS.items() if name != secret}
    result = _run_config(compose_cli, empty_env_file, variables, "-q")
    assert result.returncode != 0
    assert f"{secret} must be set" in result.stderr + result.stdout


def _env_example() -> dict[str, str]:
    example = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            example[name.strip()] = value.strip()
    return example


def test_env_example_lists_every_variable_compose_reads() -> None:
    # Comment lines may quote ${...} of other files (Rasa's endpoints.yml); compose ignores them.
    lines = [
        line for line in COMPOSE_FILE.read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    referenced = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", "\n".join(lines)))
    example = _env_example()
    assert referenced == set(example)
    for secret in SECRETS:
        assert example[secret] == "change-me"


def test_env_example_is_enough_to_render(compose_cli: list[str]) -> None:
    result = _run_config(compose_cli, ENV_EXAMPLE, {}, "-q")
    assert result.returncode == 0, result.stderr


def test_dockerfile_runs_the_api_as_a_non_root_user() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\s*$", text, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert "-c constraints.txt" in text
    assert "[dev]" not in text
    assert 'CMD ["tiepdan", "serve", "--host", "0.0.0.0", "--port", "8000"]' in text
    assert re.search(r"^EXPOSE 8000\s*$", text, re.MULTILINE)
