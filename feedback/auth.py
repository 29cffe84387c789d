"""Staff users, password hashing, access tokens, and the caller behind a request."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from core.errors import Conflict, Invalid, Unauthorized
from core.http import SessionDep
from core.settings import get_settings
from feedback.models import Agency, StaffRole, StaffUser

_hasher = PasswordHasher()
# Verifying against a dummy hash for unknown users keeps login timing the same either way.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
_ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    """Who is acting: a staff user, the bot's service account, or the system itself."""

    kind: str  # staff | service | system | citizen
    role: StaffRole | None = None
    user_id: int | None = None
    agency_id: int | None = None
    username: str | None = None

    @property
    def sees_all_agencies(self) -> bool:
        return self.kind in ("system", "service") or self.role in (
            StaffRole.ADMIN,
            StaffRole.DISPATCHER,
        )


SYSTEM = Principal(kind="system")
SERVICE = Principal(kind="service")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: StaffRole,
    agency_code: str | None = None,
    full_name: str | None = None,
) -> StaffUser:
    """Create a staff user; agency staff must belong to an agency."""
    if len(password) < 8:
        raise Invalid("The password must have at least 8 characters.")
    if session.scalar(select(StaffUser).where(StaffUser.username == username)):
        raise Conflict(f"A user named '{username}' already exists.")
    agency = None
    if agency_code:
        agency = session.scalar(select(Agency).where(Agency.code == agency_code))
        if agency is None:
            raise Invalid(f"Unknown agency code '{agency_code}'.")
    if role == StaffRole.AGENCY_STAFF and agency is None:
        raise Invalid("Agency staff need an agency (--agency CODE).")
    user = StaffUser(
        username=username,
        password_hash=hash_password(password),
        role=role,
        agency_id=agency.id if agency else None,
        full_name=full_name,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, *, username: str, password: str) -> StaffUser:
    """The active user with these credentials, or Unauthorized."""
    user = session.scalar(select(StaffUser).where(StaffUser.username == username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None or not user.active:
        raise Unauthorized("Incorrect username or password.")
    return user


def issue_access_token(user: StaffUser) -> str:
    settings = get_settings()
    now = datetime.now(UTC)
    claims = {
        "sub": str(user.id),
        "role": user.role.value,
        "iat": now,
        "exp": now + timedelta(minutes=settings.access_token_minutes),
    }
    return jwt.encode(claims, settings.secret_key, algorithm=_ALGORITHM)


def is_service_token(token: str) -> bool:
    """Whether the bearer token is the bot's service token (no database needed to tell)."""
    return hmac.compare_digest(token.encode(), get_settings().service_token.encode())


def principal_from_token(session: Session, *, token: str) -> Principal:
    """Resolve a bearer token: the bot's service token or a staff access token."""
    settings = get_settings()
    if is_service_token(token):
        return SERVICE
    try:
        claims = jwt.decode(token, settings.secret_key, algorithms=[_ALGORITHM])
        user_id = int(claims["sub"])
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise Unauthorized("The access token is invalid or has expired.") from exc
    user = session.get(StaffUser, user_id)
    if user is None or not user.active:
        raise Unauthorized("The account behind this token is no longer active.")
    return Principal(
        kind="staff",
        role=user.role,
        user_id=user.id,
        agency_id=user.agency_id,
        username=user.username,
    )


_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_principal(
    session: SessionDep, token: Annotated[str | None, Depends(_bearer)]
) -> Principal:
    """The caller behind the bearer token: a staff user or the bot's service account."""
    if not token:
        raise Unauthorized("Authentication required: send 'Authorization: Bearer <token>'.")
    if is_service_token(token):  # the bot's calls skip a trip to the thread pool
        return SERVICE
    return await run_in_threadpool(principal_from_token, session, token=token)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
