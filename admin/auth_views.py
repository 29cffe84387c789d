"""Signing in and out, the second factor (TOTP), and changing one's own password."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from admin.deps import PendingStaff, Staff, check_csrf
from admin.sessions import (
    COOKIE,
    end_other_sessions,
    end_session,
    mark_verified,
    needs_second_factor,
    new_totp_secret,
    principal_of,
    start_session,
    totp_uri,
)
from admin.templating import render
from core.errors import AppError, TooMany
from core.http import SessionDep, client_ip
from core.settings import get_settings
from feedback import auth
from feedback.audit import record_audit
from feedback.staff import enable_second_factor

router = APIRouter()
guarded = APIRouter(dependencies=[Depends(check_csrf)])

LOGIN_CSRF = "tiepdan_login_csrf"


def _secure() -> bool:
    return get_settings().environment == "production"


def _safe_next(target: str | None) -> str:
    # Only a path inside the panel: never an open redirect to another site.
    if target and target.startswith("/admin/") and not target.startswith("//"):
        return target
    return "/admin/"


def _login_page(
    request: Request, *, error: str | None, status_code: int, username: str = ""
) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        {
            "login_csrf": token,
            "error": error,
            "username": username,
            "next": _safe_next(request.query_params.get("next")),
        },
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF, token, httponly=True, samesite="strict", secure=_secure(), path="/admin/login"
    )
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    return _login_page(request, error=None, status_code=200)


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(max_length=80)],
    password: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/admin/",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf_token.encode()):
        return _login_page(
            request,
            error="Phiên đăng nhập đã hết hạn hoặc thiếu mã bảo vệ (CSRF). Hãy đăng nhập lại.",
            status_code=403,
            username=username,
        )
    try:
        auth.check_sign_in_rate(username=username, ip=client_ip(request))
    except TooMany as refusal:
        page = _login_page(request, error=refusal.message, status_code=429, username=username)
        page.headers["Retry-After"] = str(refusal.retry_after)
        return page
    result = auth.check_credentials(session, username=username.strip(), password=password)
    if result.user is None:
        # Returned, not raised: the failed attempt is committed and counts toward the lock.
        message = (
            result.error
            if result.error != auth.BAD_CREDENTIALS
            else "Sai tên đăng nhập hoặc mật khẩu."
        )
        return _login_page(request, error=message, status_code=401, username=username)
    token = start_session(session, user=result.user)
    record_audit(
        session, actor=principal_of(result.user), action="session.login", ip=client_ip(request)
    )
    needs_factor = needs_second_factor(result.user)
    target = "/admin/login/totp" if needs_factor else _safe_next(next)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(),
        path="/admin",
        max_age=get_settings().admin_session_max_hours * 3600,
    )
    response.delete_cookie(LOGIN_CSRF, path="/admin/login")
    return response


@router.get("/login/totp")
def totp_form(request: Request, who: PendingStaff) -> Response:
    if who.verified:
        return RedirectResponse("/admin/", status_code=303)
    if who.user.totp_secret is None:
        return RedirectResponse("/admin/login/totp/setup", status_code=303)
    return render(request, "totp.html", {}, who=who)


@guarded.post("/login/totp")
def totp_check(
    request: Request,
    session: SessionDep,
    who: PendingStaff,
    code: Annotated[str, Form(max_length=10)],
) -> Response:
    if not auth.check_totp_attempt(session, user=who.user, code=code):
        if auth.is_locked(who.user):
            end_session(session, session_id=who.session_id)
            return RedirectResponse("/admin/login", status_code=303)
        return render(
            request,
            "totp.html",
            {"error": "Mã xác thực không đúng. Hãy nhập mã mới trên ứng dụng."},
            who=who,
            status_code=401,
        )
    mark_verified(session, session_id=who.session_id)
    return RedirectResponse("/admin/", status_code=303)


@router.get("/login/totp/setup")
def totp_setup_form(request: Request, who: PendingStaff) -> Response:
    if who.user.totp_secret is not None and not who.verified:
        return RedirectResponse("/admin/login/totp", status_code=303)
    secret = new_totp_secret()
    return _setup_page(request, who, secret=secret, error=None, status_code=200)


def _setup_page(
    request: Request, who: PendingStaff, *, secret: str, error: str | None, status_code: int
) -> Response:
    return render(
        request,
        "totp_setup.html",
        {
            "secret": secret,
            "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "uri": totp_uri(secret, who.user.username),
            "error": error,
        },
        who=who,
        status_code=status_code,
    )


@guarded.post("/login/totp/setup")
def totp_setup(
    request: Request,
    session: SessionDep,
    who: PendingStaff,
    secret: Annotated[str, Form(min_length=16, max_length=64)],
    code: Annotated[str, Form(max_length=10)],
) -> Response:
    if who.user.totp_secret is not None and not who.verified:
        return RedirectResponse("/admin/login/totp", status_code=303)
    try:
        enable_second_factor(
            session, user=who.user, secret=secret, code=code, ip=client_ip(request)
        )
    except AppError as exc:
        return _setup_page(
            request, who, secret=secret, error=exc.message, status_code=exc.status_code
        )
    mark_verified(session, session_id=who.session_id)
    return RedirectResponse("/admin/?done=totp", status_code=303)


@guarded.post("/logout")
def logout(request: Request, session: SessionDep, who: PendingStaff) -> Response:
    end_session(session, session_id=who.session_id)
    record_audit(session, actor=who.principal, action="session.logout", ip=client_ip(request))
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(COOKIE, path="/admin")
    return response


@router.get("/password")
def password_form(request: Request, who: Staff) -> Response:
    return render(request, "password.html", {}, who=who)


@guarded.post("/password")
def change_password(
    request: Request,
    session: SessionDep,
    who: Staff,
    current: Annotated[str, Form(max_length=200)],
    new: Annotated[str, Form(max_length=200)],
    confirm: Annotated[str, Form(max_length=200)],
) -> Response:
    try:
        if new != confirm:
            raise AppError("Hai lần nhập mật khẩu mới không khớp.", status_code=422)
        auth.change_password(session, user=who.user, current=current, new=new)
    except AppError as exc:
        return render(
            request, "password.html", {"error": exc.message}, who=who, status_code=exc.status_code
        )
    end_other_sessions(session, user_id=who.user.id, keep=who.session_id)
    record_audit(
        session,
        actor=who.principal,
        action="user.change_password",
        target=who.user.username,
        ip=client_ip(request),
    )
    return RedirectResponse("/admin/password?done=password", status_code=303)


router.include_router(guarded)
