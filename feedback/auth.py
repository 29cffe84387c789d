"""Staff users, password hashing, access tokens, and the caller behind a request."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import jwt
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from core import ratelimit
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
    """Who is acting: a staff user, the bot's service account, an outside system with an API
    key (feedback/apikeys.py), or the system itself."""

    kind: str  # staff | service | system | citizen | apikey
    role: StaffRole | None = None
    user_id: int | None = None
    agency_id: int | None = None
    username: str | None = None
    scope: str | None = None  # an API key's: ioc | open311

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


BAD_CREDENTIALS = "Incorrect username or password."


@dataclass(frozen=True)
class LoginResult:
    """A sign-in attempt: the user, or why not. A failure is a result, not an exception,
    so that the caller commits the failure count before answering 401."""

    user: StaffUser | None
    error: str | None = None


TOO_MANY_SIGN_INS = (
    "Đăng nhập quá nhiều lần trong thời gian ngắn. Hãy thử lại sau {seconds} giây "
    "(too many sign-in attempts)."
)


def check_sign_in_rate(*, username: str, ip: str) -> None:
    """TooMany past the sign-in limits per address and per account name
    (TIEPDAN_LIMIT_LOGINS_*). Checked before the password, so a flood costs no hashing."""
    settings = get_settings()
    ratelimit.enforce(f"logins:ip:{ip}", settings.limit_logins_per_ip, message=TOO_MANY_SIGN_INS)
    ratelimit.enforce(
        f"logins:account:{username.strip().lower()}",
        settings.limit_logins_per_account,
        message=TOO_MANY_SIGN_INS,
    )


def check_credentials(
    session: Session, *, username: str, password: str, now: datetime | None = None
) -> LoginResult:
    """Check a password; count failures and lock the account after too many in a row."""
    settings = get_settings()
    now = now or datetime.now(UTC)
    user = session.scalar(select(StaffUser).where(StaffUser.username == username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        correct = True
    except (VerificationError, InvalidHashError):
        correct = False
    if user is None or not user.active:
        return LoginResult(None, BAD_CREDENTIALS)
    locked = user.locked_until is not None and user.locked_until > now
    if locked and correct:
        # Only someone who knows the password learns that the account is locked.
        until = (
            user.locked_until.astimezone(ZoneInfo(settings.timezone)) if user.locked_until else now
        )
        return LoginResult(
            None,
            f"Account locked after too many failed sign-ins; try again after "
            f"{until:%H:%M} (Tài khoản tạm khóa do nhập sai mật khẩu nhiều lần).",
        )
    if not correct:
        if not locked:
            user.failed_logins += 1
            if user.failed_logins >= settings.login_max_failures:
                user.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
                user.failed_logins = 0
        session.flush()
        return LoginResult(None, BAD_CREDENTIALS)
    # With a second factor, the count starts again only once the code is right too: the
    # password alone must not buy more guesses at the code.
    if user.totp_secret is None and (user.failed_logins or user.locked_until):
        user.failed_logins, user.locked_until = 0, None
        session.flush()
    return LoginResult(user)


def totp_ok(secret: str, code: str) -> bool:
    """A 6-digit code from the authenticator app; the previous 30 s window is accepted too."""
    code = code.replace(" ", "")
    return code.isdigit() and pyotp.TOTP(secret).verify(code, valid_window=1)


def check_second_factor(session: Session, *, user: StaffUser, code: str | None) -> str | None:
    """Why a user with TOTP turned on may not have a token without a valid code, or None.
    A wrong code counts toward the lock (check_totp_attempt)."""
    if user.totp_secret is None:
        return None
    if not code:
        return "This account uses two-factor sign-in: send the current TOTP code as 'otp'."
    if check_totp_attempt(session, user=user, code=code):
        return None
    return "The TOTP code is wrong or has expired."


def check_totp_attempt(
    session: Session, *, user: StaffUser, code: str, now: datetime | None = None
) -> bool:
    """A second-factor code at sign-in. Wrong codes count like wrong passwords and lock the
    account at the same limit: the correct password alone never buys more guesses."""
    settings = get_settings()
    now = now or datetime.now(UTC)
    if user.totp_secret is not None and totp_ok(user.totp_secret, code):
        user.failed_logins = 0
        session.flush()
        return True
    user.failed_logins += 1
    if user.failed_logins >= settings.login_max_failures:
        user.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
        user.failed_logins = 0
    session.flush()
    return False


def is_locked(user: StaffUser, now: datetime | None = None) -> bool:
    return user.locked_until is not None and user.locked_until > (now or datetime.now(UTC))


def authenticate(session: Session, *, username: str, password: str) -> StaffUser:
    """The active user with these credentials, or Unauthorized (the failure is not counted:
    callers that face the network use check_credentials)."""
    result = check_credentials(session, username=username, password=password)
    if result.user is None:
        raise Unauthorized(result.error or BAD_CREDENTIALS)
    return result.user


def change_password(
    session: Session, *, user: StaffUser, current: str, new: str, now: datetime | None = None
) -> None:
    """Change one's own password; the current one must be given."""
    try:
        _hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise Invalid("Mật khẩu hiện tại không đúng.") from None
    if len(new) < 10:
        raise Invalid("Mật khẩu mới cần ít nhất 10 ký tự.")
    if new == current:
        raise Invalid("Mật khẩu mới phải khác mật khẩu hiện tại.")
    user.password_hash = hash_password(new)
    user.password_changed_at = now or datetime.now(UTC)
    session.flush()


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
    """Resolve a bearer token: the bot's service token, an API key or a staff access token."""
    settings = get_settings()
    if is_service_token(token):
        return SERVICE
    from feedback import apikeys  # it imports this module: the auth rules come first

    if apikeys.is_api_key(token):
        return apikeys.principal_for_key(session, secret=token)
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
