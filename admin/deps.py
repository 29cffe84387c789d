"""Who is signed in to the panel, and the CSRF check every unsafe request passes."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from admin.sessions import COOKIE, SignedIn, load_session
from core.errors import AppError
from core.http import SessionDep

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    """No valid sign-in (or the second factor is still missing): go to the sign-in page."""

    def __init__(self, *, second_factor: bool = False) -> None:
        self.second_factor = second_factor


class CsrfRefused(AppError):
    status_code = 403

    def __init__(self) -> None:
        super().__init__(
            "Yêu cầu bị từ chối vì thiếu mã bảo vệ (CSRF) hoặc mã đã hết hạn. "
            "Hãy tải lại trang rồi thử lại."
        )


def _signed_in(request: Request, session: SessionDep) -> SignedIn | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    # A page's own refresh (an HTMX GET) is not someone at work: it does not keep the sign-in
    # alive past its idle time.
    polled = request.method == "GET" and request.headers.get("hx-request") == "true"
    return load_session(session, token=token, touch=not polled)


SignedInDep = Annotated[SignedIn | None, Depends(_signed_in)]


def current_staff(who: SignedInDep) -> SignedIn:
    """The verified sign-in behind the request, or LoginRequired."""
    if who is None:
        raise LoginRequired()
    if not who.verified:
        raise LoginRequired(second_factor=True)
    return who


def pending_staff(who: SignedInDep) -> SignedIn:
    """A sign-in that may still lack its second factor (the TOTP pages)."""
    if who is None:
        raise LoginRequired()
    return who


Staff = Annotated[SignedIn, Depends(current_staff)]
PendingStaff = Annotated[SignedIn, Depends(pending_staff)]


async def check_csrf(request: Request, who: PendingStaff) -> None:
    """Every form and HTMX request carries the session's token (a field or X-CSRF-Token)."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        field = form.get("csrf_token")
        sent = field if isinstance(field, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), who.csrf_token.encode()):
        raise CsrfRefused()
