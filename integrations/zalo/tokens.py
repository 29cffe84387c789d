"""The OA's tokens, kept in the `channel_tokens` row "zalo".

An access token lives 25 h. The refresh token that renews it works once, and every renewal
returns a new one (channels.md 1.9): spending it twice loses the OA until an admin connects it
again. So a renewal takes the row's lock, calls Zalo while holding it, and commits the new pair
before anyone uses it. A worker that waited for the lock finds the pair renewed, and uses it
instead of spending the refresh token that is now dead.

The HTTP call is passed in (`exchange`), so this module knows the database and not the client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.database import session_scope, utcnow
from integrations.channel import Channel
from integrations.models import ChannelToken
from integrations.zalo.client import TokenPair

logger = logging.getLogger(__name__)

CHANNEL = Channel.ZALO.value
# An access token this close to its end is renewed before it is used, not sent to be refused.
EXPIRY_SLACK = timedelta(minutes=1)

# The call to Zalo: a refresh token in, the new pair out.
Exchange = Callable[[str], TokenPair]


class NotConnected(Exception):
    """No tokens are stored: the OA was never connected (`tiepdan zalo connect`)."""


def access_token(exchange: Exchange) -> str:
    """The access token to use now; renewed first when it has expired (beat was down)."""
    return access_token_until(exchange)[0]


def access_token_until(exchange: Exchange) -> tuple[str, datetime]:
    """The access token to use now, and when it expires (so a process may keep it until
    nearly then); renewed first when it has expired."""
    with session_scope() as session:
        row = session.get(ChannelToken, CHANNEL)
        if row is None:
            raise NotConnected("the Zalo OA is not connected: run `tiepdan zalo connect`")
        if usable(row.expires_at):
            return row.access_token, row.expires_at
    token, _, expiry = _renew(exchange, keep=lambda row: usable(row.expires_at))
    return token, expiry


def usable(expires_at: datetime) -> bool:
    """Whether an access token that expires then may still be sent to Zalo."""
    return expires_at > utcnow() + EXPIRY_SLACK


def renew_refused(exchange: Exchange, *, refused: str) -> str:
    """A fresh access token after Zalo refused `refused` (-216, -220). When the row already
    holds another one, a worker renewed it meanwhile: that one is returned, nothing is spent."""
    token, _, _ = _renew(exchange, keep=lambda row: row.access_token != refused)
    return token


def renew_if_expiring(exchange: Exchange, *, within: timedelta) -> bool:
    """Renew when the access token expires within `within`; whether it was renewed."""
    _, renewed, _ = _renew(exchange, keep=lambda row: row.expires_at > utcnow() + within)
    return renewed


def store(pair: TokenPair) -> datetime:
    """Keep the first pair (`tiepdan zalo connect`), replacing any; when its access token ends."""
    now = utcnow()
    with session_scope() as session:
        row = _locked_row(session)
        if row is None:
            row = ChannelToken(channel=CHANNEL)
            session.add(row)
        _write(row, pair, now=now)
        return row.expires_at


def expires_at() -> datetime | None:
    """When the stored access token ends; None when the OA is not connected."""
    with session_scope() as session:
        row = session.get(ChannelToken, CHANNEL)
        return row.expires_at if row else None


def _renew(
    exchange: Exchange, *, keep: Callable[[ChannelToken], bool]
) -> tuple[str, bool, datetime]:
    """Under the row's lock: the stored access token when `keep(row)`, else a renewed one,
    committed before it is returned; whether it was renewed, and when it expires."""
    with session_scope() as session:
        row = _locked_row(session)
        if row is None:
            raise NotConnected("the Zalo OA is not connected: run `tiepdan zalo connect`")
        if keep(row):
            return row.access_token, False, row.expires_at
        now = utcnow()  # before the call: the new token's 25 h start when Zalo issues it
        pair = exchange(row.refresh_token)  # the old refresh token is spent from here on
        _write(row, pair, now=now)
        expiry = row.expires_at
    logger.info("zalo: tokens renewed; the access token expires at %s", expiry.isoformat())
    return pair.access_token, True, expiry


def _locked_row(session: Session) -> ChannelToken | None:
    """The row, locked until the session ends: other workers wait here."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite has no row locks and starts its transaction at the first write: writing first
        # takes the database's write lock, so no other process reads the pair until we commit.
        session.execute(
            update(ChannelToken)
            .where(ChannelToken.channel == CHANNEL)
            .values(refreshed_at=ChannelToken.refreshed_at)
        )
    return session.scalar(
        select(ChannelToken)
        .where(ChannelToken.channel == CHANNEL)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _write(row: ChannelToken, pair: TokenPair, *, now: datetime) -> None:
    row.access_token = pair.access_token
    row.refresh_token = pair.refresh_token
    row.expires_at = now + timedelta(seconds=pair.expires_in)
    row.refreshed_at = now
