"""Managing staff accounts (the admins' page) and one's own second factor; every change is
written to the audit log in the same transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Invalid, NotFound
from feedback.audit import record_audit
from feedback.auth import Principal, create_user, hash_password, totp_ok
from feedback.models import Agency, StaffRole, StaffUser
from feedback.policy import require_admin


def _user(session: Session, user_id: int) -> StaffUser:
    user = session.get(StaffUser, user_id)
    if user is None:
        raise NotFound("Không có tài khoản này.")
    return user


def user_id_of(session: Session, username: str) -> int:
    user_id = session.scalar(select(StaffUser.id).where(StaffUser.username == username))
    if user_id is None:
        raise NotFound("Không có tài khoản này.")
    return user_id


def _agency_id(session: Session, code: str | None) -> int | None:
    if not code:
        return None
    agency_id = session.scalar(select(Agency.id).where(Agency.code == code))
    if agency_id is None:
        raise Invalid(f"Không có cơ quan mã '{code}'.")
    return agency_id


def add_user(
    session: Session,
    *,
    principal: Principal,
    username: str,
    password: str,
    role: StaffRole,
    agency_code: str | None,
    full_name: str | None,
    ip: str | None = None,
) -> StaffUser:
    """Create an account (agency staff need an agency)."""
    require_admin(principal)
    if (
        not username
        or len(username) > 80
        or not username.replace("-", "").replace(".", "").isalnum()
    ):
        raise Invalid("Tên đăng nhập chỉ gồm chữ, số, dấu chấm và gạch nối.")
    if len(password) < 10:
        raise Invalid("Mật khẩu cần ít nhất 10 ký tự.")
    user = create_user(
        session,
        username=username,
        password=password,
        role=role,
        agency_code=agency_code or None,
        full_name=full_name or None,
    )
    record_audit(
        session,
        actor=principal,
        action="user.create",
        target=username,
        detail={"role": role.value, "agency": agency_code or None},
        ip=ip,
    )
    return user


def update_user(
    session: Session,
    *,
    principal: Principal,
    user_id: int,
    role: StaffRole,
    agency_code: str | None,
    active: bool,
    ip: str | None = None,
) -> StaffUser:
    """Change an account's role, agency or whether it may sign in."""
    require_admin(principal)
    user = _user(session, user_id)
    agency_id = _agency_id(session, agency_code)
    if role == StaffRole.AGENCY_STAFF and agency_id is None:
        raise Invalid("Cán bộ cơ quan cần thuộc một cơ quan.")
    if user.id == principal.user_id and (not active or role != StaffRole.ADMIN):
        raise Invalid("Không thể tự khóa hoặc tự bỏ quyền quản trị của chính mình.")
    before = {"role": user.role.value, "agency_id": user.agency_id, "active": user.active}
    user.role, user.agency_id, user.active = role, agency_id, active
    after = {"role": role.value, "agency_id": agency_id, "active": active}
    if before != after:
        record_audit(
            session,
            actor=principal,
            action="user.update",
            target=user.username,
            detail={"before": before, "after": after},
            ip=ip,
        )
    session.flush()
    return user


def reset_password(
    session: Session, *, principal: Principal, user_id: int, password: str, ip: str | None = None
) -> StaffUser:
    """Set a new password for someone (they change it after signing in); unlocks the account."""
    require_admin(principal)
    if len(password) < 10:
        raise Invalid("Mật khẩu cần ít nhất 10 ký tự.")
    user = _user(session, user_id)
    user.password_hash = hash_password(password)
    user.password_changed_at = datetime.now(UTC)
    user.failed_logins, user.locked_until = 0, None
    record_audit(
        session, actor=principal, action="user.reset_password", target=user.username, ip=ip
    )
    session.flush()
    return user


def unlock_user(
    session: Session, *, principal: Principal, user_id: int, ip: str | None = None
) -> StaffUser:
    """Lift the lock after too many wrong passwords or codes. An admin in the panel, or the
    operator on the server (`tiepdan user unlock`: the system), when no admin can sign in."""
    if principal.kind != "system":
        require_admin(principal)
    user = _user(session, user_id)
    user.failed_logins, user.locked_until = 0, None
    record_audit(session, actor=principal, action="user.unlock", target=user.username, ip=ip)
    session.flush()
    return user


def reset_second_factor(
    session: Session, *, principal: Principal, user_id: int, ip: str | None = None
) -> StaffUser:
    """Forget someone's TOTP secret (a lost phone); they set up a new one at the next sign-in."""
    require_admin(principal)
    user = _user(session, user_id)
    user.totp_secret = None
    record_audit(session, actor=principal, action="user.reset_totp", target=user.username, ip=ip)
    session.flush()
    return user


def enable_second_factor(
    session: Session, *, user: StaffUser, secret: str, code: str, ip: str | None = None
) -> None:
    """Turn on TOTP for oneself, once a code from the new secret proves the app has it."""
    if not totp_ok(secret, code):
        raise Invalid("Mã xác thực không đúng. Kiểm tra giờ trên điện thoại và nhập mã mới.")
    user.totp_secret = secret
    actor = Principal(kind="staff", role=user.role, user_id=user.id, username=user.username)
    record_audit(session, actor=actor, action="user.enable_totp", target=user.username, ip=ip)
    session.flush()
