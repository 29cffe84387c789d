"""The OA's tokens: connected once by the operator, renewed by beat before they expire, and a
refresh token spent once even when two workers renew at the same moment."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from core.database import session_scope, utcnow
from core.settings import get_settings
from integrations.models import ChannelToken
from integrations.zalo import tasks, tokens
from integrations.zalo.adapter import ZaloAdapter
from integrations.zalo.client import TokenPair
from tests.fakes.zalo import FakeZalo
from tiepdan.cli import main


def _row() -> ChannelToken:
    with session_scope() as session:
        return session.get_one(ChannelToken, "zalo")


def test_connect_exchanges_the_refresh_token_and_keeps_the_pair(zalo_on: FakeZalo) -> None:
    result = CliRunner().invoke(main, ["zalo", "connect", "--refresh-token", zalo_on.refresh_token])
    assert result.exit_code == 0, result.output
    assert "Zalo OA connected" in result.output and "Asia/Ho_Chi_Minh" in result.output
    [request] = zalo_on.on("token")
    assert request.headers["secret_key"] == zalo_on.app_secret
    assert request.form == {
        "refresh_token": zalo_on.refresh_token,
        "app_id": zalo_on.app_id,
        "grant_type": "refresh_token",
    }
    row = _row()
    assert row.access_token not in result.output and row.refresh_token not in result.output
    assert row.refresh_token != zalo_on.refresh_token  # the new one: the given one is spent
    assert timedelta(hours=24) < row.expires_at - utcnow() <= timedelta(hours=25)
    status = CliRunner().invoke(main, ["zalo", "status"])
    assert status.exit_code == 0 and "connected" in status.output


def test_connect_with_a_spent_token_says_so(zalo_on: FakeZalo) -> None:
    runner = CliRunner()
    assert (
        runner.invoke(main, ["zalo", "connect", "--refresh-token", zalo_on.refresh_token]).exit_code
        == 0
    )
    again = runner.invoke(main, ["zalo", "connect", "--refresh-token", zalo_on.refresh_token])
    assert again.exit_code == 1
    assert "Refresh token is invalid or was already used" in again.output


def test_connect_needs_zalo_switched_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "zalo_app_id", "")
    result = CliRunner().invoke(main, ["zalo", "connect", "--refresh-token", "rt"])
    assert result.exit_code == 1 and "TIEPDAN_ZALO_APP_ID" in result.output


def test_two_workers_renewing_at_once_spend_the_refresh_token_once(connected: FakeZalo) -> None:
    connected.refresh_delay = 0.3  # the first renewal is still in flight when the second asks
    connected.expire_access_token()
    refused = _row().access_token
    workers = [ZaloAdapter(get_settings(), timeout=2) for _ in range(2)]
    got: list[str] = []

    def renew(adapter: ZaloAdapter) -> None:
        got.append(tokens.renew_refused(adapter.exchange, refused=refused))

    threads = [threading.Thread(target=renew, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    for worker in workers:
        worker.close()
    assert len(connected.on("token")) == 1
    assert got == [_row().access_token] * 2 and refused not in got


def test_beat_renews_before_expiry_even_without_traffic(connected: FakeZalo) -> None:
    assert tasks.refresh_token() == "fresh"  # 25 h left: nothing to do
    assert connected.on("token") == []
    with session_scope() as session:
        session.execute(
            update(ChannelToken)
            .where(ChannelToken.channel == "zalo")
            .values(expires_at=utcnow() + timedelta(hours=2))
        )
    assert tasks.refresh_token() == "renewed"
    assert len(connected.on("token")) == 1
    assert _row().expires_at - utcnow() > timedelta(hours=24)


def test_beat_reports_what_stops_it(zalo_on: FakeZalo, monkeypatch: pytest.MonkeyPatch) -> None:
    assert tasks.refresh_token() == "not connected"
    tokens.store(TokenPair("at-x", "rt-dead", 60))  # expires within the margin
    assert tasks.refresh_token() == "refused"
    monkeypatch.setattr(get_settings(), "zalo_app_id", "")
    assert tasks.refresh_token() == "off"


def test_an_expired_token_is_renewed_before_use(connected: FakeZalo) -> None:
    with session_scope() as session:
        session.execute(
            update(ChannelToken)
            .where(ChannelToken.channel == "zalo")
            .values(expires_at=utcnow() - timedelta(minutes=5))
        )
    adapter = ZaloAdapter(get_settings(), timeout=2)
    try:
        token = tokens.access_token(adapter.exchange)
    finally:
        adapter.close()
    assert len(connected.on("token")) == 1 and token == _row().access_token
