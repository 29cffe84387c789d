"""API keys for systems outside: the IOC reads the KPIs with an `ioc` key, an Open311 client
files requests with an `open311` key.

A key is 32 random bytes, shown once when it is created; only its sha256 is stored (a key
has the entropy of a secret, not of a password, so a fast hash is enough and lookups stay one
indexed query). Admins create and revoke keys in the panel or with `tiepdan apikey create`;
both are written to the audit log.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Invalid, NotFound, Unauthorized
from feedback.audit import record_audit
from feedback.auth import Principal
from feedback.models import ApiKey, ApiKeyScope
from feedback.policy import require_admin

KEY_PREFIX = "tdk_"
# How often a key's last use is written: every request of a polling IOC would be a write.
_LAST_USED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str  # the only time the full key exists outside the caller's hands


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_api_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def _require_admin(principal: Principal) -> None:
    # The command line (an operator on the server) acts as the system.
    if principal.kind != "system":
        require_admin(principal)


def create_api_key(
    session: Session,
    *,
    name: str,
    scope: ApiKeyScope,
    actor: Principal,
    ip: str | None = None,
    now: datetime | None = None,
) -> NewKey:
    """Create a key (admins, or the command line); its secret is returned once, never stored."""
    _require_admin(actor)
    name = name.strip()
    if not name or len(name) > 100:
        raise Invalid("Đặt tên cho khóa (1–100 ký tự), ví dụ tên hệ thống sẽ dùng khóa.")
    secret = f"{KEY_PREFIX}{scope.value}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        name=name,
        scope=scope,
        prefix=secret[: len(KEY_PREFIX) + len(scope.value) + 5],
        key_hash=hash_key(secret),
        created_by=actor.username or actor.kind,
        created_at=now or datetime.now(UTC),
    )
    session.add(key)
    session.flush()
    record_audit(
        session,
        actor=actor,
        action="apikey.create",
        target=f"apikey:{key.id}",
        detail={"name": name, "scope": scope.value},
        ip=ip,
    )
    return NewKey(key=key, secret=secret)


def revoke_api_key(
    session: Session, *, principal: Principal, key_id: int, ip: str | None = None
) -> ApiKey:
    """Revoke a key at once; it stays listed, marked revoked."""
    _require_admin(principal)
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound("Không có khóa này.")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        record_audit(
            session,
            actor=principal,
            action="apikey.revoke",
            target=f"apikey:{key.id}",
            detail={"name": key.name, "scope": key.scope.value},
            ip=ip,
        )
        session.flush()
    return key


def list_api_keys(session: Session, *, principal: Principal) -> list[ApiKey]:
    require_admin(principal)
    return list(session.scalars(select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.id)))


def principal_for_key(session: Session, *, secret: str, now: datetime | None = None) -> Principal:
    """The principal of a valid, unrevoked key (kind "apikey", with its scope)."""
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(secret)))
    if key is None or key.revoked_at is not None:
        raise Unauthorized("The API key is unknown or has been revoked.")
    now = now or datetime.now(UTC)
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_EVERY:
        key.last_used_at = now
        session.flush()
    return Principal(kind="apikey", scope=key.scope.value, username=f"apikey:{key.name}")
