"""Panel sign-ins: a random cookie token, stored only as its hash, with its CSRF token and
whether the second factor was given. Logging out, or changing one's password, ends them.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, joinedload

from core.settings import get_settings
from feedback.auth import Principal
from feedback.models import StaffRole, StaffSession, StaffUser

COOKIE = "tiepdan_admin"
# Only refresh `last_seen_at` this often: a write per page view would cost more than the page.
_SEEN_EVERY = timedelta(minutes=5)


@dataclass(frozen=True)
class SignedIn:
    """The staff member behind a request to the panel."""

    user: StaffUser
    session_id: str
    csrf_token: str
    verified: bool

    @property
    def principal(self) -> Principal:
        return principal_of(self.user)


def principal_of(user: StaffUser) -> Principal:
    """The staff user as the services know callers."""
    return Principal(
        kind="staff",
        role=user.role,
        user_id=user.id,
        agency_id=user.agency_id,
        username=user.username,
    )


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def needs_second_factor(user: StaffUser) -> bool:
    """Admins always (unless turned off in the settings); others once they set up TOTP."""
    return user.totp_secret is not None or (
        user.role == StaffRole.ADMIN and get_settings().admin_totp_required
    )


def start_session(session: Session, *, user: StaffUser, now: datetime | None = None) -> str:
    """Open a sign-in and return the cookie token (shown once; only its hash is kept)."""
    now = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            id=_hash(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            verified=not needs_second_factor(user),
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=get_settings().admin_session_max_hours),
        )
    )
    session.flush()
    return token


def load_session(
    session: Session, *, token: str, touch: bool = True, now: datetime | None = None
) -> SignedIn | None:
    """The sign-in behind a cookie token, or None when it is unknown, expired or idle too long."""
    now = now or datetime.now(UTC)
    row = session.scalar(
        select(StaffSession)
        .options(joinedload(StaffSession.user))
        .where(StaffSession.id == _hash(token))
    )
    if row is None:
        return None
    idle = timedelta(minutes=get_settings().admin_session_idle_minutes)
    if row.expires_at <= now or row.last_seen_at + idle <= now or not row.user.active:
        session.delete(row)
        session.flush()
        return None
    if touch and now - row.last_seen_at > _SEEN_EVERY:
        row.last_seen_at = now
    return SignedIn(
        user=row.user, session_id=row.id, csrf_token=row.csrf_token, verified=row.verified
    )


def end_session(session: Session, *, session_id: str) -> None:
    session.execute(delete(StaffSession).where(StaffSession.id == session_id))


def end_other_sessions(session: Session, *, user_id: int, keep: str | None) -> None:
    """After a password change: every other browser signed in as this user is signed out."""
    query = delete(StaffSession).where(StaffSession.user_id == user_id)
    if keep is not None:
        query = query.where(StaffSession.id != keep)
    session.execute(query)


def mark_verified(session: Session, *, session_id: str) -> None:
    row = session.get_one(StaffSession, session_id)
    row.verified = True
    session.flush()


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="Tiếp Dân")


def list_staff(session: Session) -> list[StaffUser]:
    return list(
        session.scalars(
            select(StaffUser).options(joinedload(StaffUser.agency)).order_by(StaffUser.username)
        )
    )
