"""The `tiepdan` command line against the test database."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import func, select

from core.database import session_scope
from feedback.auth import authenticate
from feedback.models import StaffRole, StaffUser, Ticket
from feedback.seed import DEMO_USERS
from tiepdan.cli import main


def _delete_user(username: str) -> None:
    with session_scope() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == username))
        if user:
            session.delete(user)


def test_user_create_makes_a_user_who_can_log_in() -> None:
    runner = CliRunner()
    try:
        result = runner.invoke(
            main,
            [
                "user",
                "create",
                "--username",
                "cli-sxd",
                "--password",
                "mat-khau-123",
                "--role",
                "agency_staff",
                "--agency",
                "SXD",
            ],
        )
        assert result.exit_code == 0, result.output
        assert "Created agency_staff 'cli-sxd' of SXD." in result.output
        with session_scope() as session:
            user = authenticate(session, username="cli-sxd", password="mat-khau-123")
            assert user.role == StaffRole.AGENCY_STAFF
            assert user.password_hash.startswith("$argon2")
        again = runner.invoke(
            main,
            [
                "user",
                "create",
                "--username",
                "cli-sxd",
                "--password",
                "mat-khau-123",
                "--role",
                "viewer",
            ],
        )
        assert again.exit_code == 1
        assert "already exists" in again.output
    finally:
        _delete_user("cli-sxd")


def test_user_create_refuses_agency_staff_without_an_agency() -> None:
    result = CliRunner().invoke(
        main,
        [
            "user",
            "create",
            "--username",
            "x1",
            "--password",
            "mat-khau-123",
            "--role",
            "agency_staff",
        ],
    )
    assert result.exit_code == 1
    assert "need an agency" in result.output


def test_seed_twice_changes_nothing() -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["seed"])
    assert first.exit_code == 0, first.output
    with session_scope() as session:
        users = session.scalar(select(func.count()).select_from(StaffUser))
    second = runner.invoke(main, ["seed"])
    assert second.exit_code == 0
    assert "already up to date" in second.output
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(StaffUser)) == users


def test_run_tells_its_children_the_port_it_serves_on(monkeypatch) -> None:
    """`tiepdan run --port`: the action server (under `bot serve`) calls the API on that port."""
    from core.settings import Settings
    from tiepdan import launcher

    started: dict[str, dict[str, str]] = {}

    class Child:
        returncode = None

        def poll(self) -> int:
            return 0

        def wait(self, timeout: float) -> int:
            return 0

    def spawn(console, name: str, command: list[str], env: dict[str, str]) -> Child:
        started[name] = env
        return Child()

    monkeypatch.setattr(launcher.Console, "step", lambda *args, **kwargs: None)
    monkeypatch.setattr(launcher, "_database_is_new", lambda settings: False)
    monkeypatch.setattr(launcher, "_spawn", spawn)
    monkeypatch.setattr(launcher, "_wait_until_answering", lambda *args: True)
    monkeypatch.setattr(launcher, "supervise", lambda children, on_poll: True)

    result = CliRunner().invoke(main, ["run", "--port", "9123"])

    assert result.exit_code == 0, result.output
    assert "Tiếp Dân is running on http://127.0.0.1:9123" in result.output
    monkeypatch.delenv("TIEPDAN_PLATFORM_URL", raising=False)
    for name, value in started["rasa"].items():
        monkeypatch.setenv(name, value)
    assert Settings().platform_url == "http://127.0.0.1:9123"


def _tickets() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(Ticket)) or 0


def test_seed_demo_adds_the_logins_only() -> None:
    before = _tickets()
    try:
        result = CliRunner().invoke(main, ["seed", "--demo"])
        assert result.exit_code == 0, result.output
        for username, password, _role, _agency in DEMO_USERS:
            assert f"demo login  {username:<10} / {password:<20}" in result.output
        assert _tickets() == before
    finally:
        for username, *_ in DEMO_USERS:
            _delete_user(username)


def test_demo_tickets_are_added_and_removed_with_one_command(nlu_model: object) -> None:
    runner = CliRunner()
    before = _tickets()

    added = runner.invoke(main, ["seed", "--demo-tickets", "12", "--demo-seed", "5"])
    assert added.exit_code == 0, added.output
    assert "Added 12 demo tickets filed from" in added.output
    assert "tiepdan seed --remove-demo-tickets" in added.output
    assert _tickets() == before + 12

    removed = runner.invoke(main, ["seed", "--remove-demo-tickets"])
    assert removed.exit_code == 0, removed.output
    assert "Removed 12 demo tickets" in removed.output
    assert _tickets() == before
