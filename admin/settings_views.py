"""The admins' pages: users and roles, agencies, routing rules, the holiday calendar, the FAQ
and the audit log. The services (feedback/staff.py, feedback/configuration.py) check the role
and write the audit entries."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from admin.choices import forget as forget_choices
from admin.deps import Staff, check_csrf
from admin.sessions import list_staff
from admin.templating import render
from core.errors import AppError, Invalid
from core.http import SessionDep, client_ip
from feedback import apikeys, configuration, reply_templates, staff
from feedback.audit import list_audit
from feedback.models import Agency, ApiKeyScope, Category, StaffRole, Ward
from feedback.policy import require_admin

router = APIRouter(prefix="/settings")
# No prefix of its own: including it in `router` adds "/settings".
guarded = APIRouter(dependencies=[Depends(check_csrf)])


def _back(page: str, query: str = "") -> RedirectResponse:
    return RedirectResponse(f"/admin/settings/{page}?done=saved{query}", status_code=303)


def _page(
    request: Request,
    session: SessionDep,
    who: Staff,
    name: str,
    *,
    error: str | None = None,
    status_code: int = 200,
    extra: dict[str, object] | None = None,
) -> Response:
    require_admin(who.principal)
    context: dict[str, object] = {"error": error, "tab": name}
    agencies = session.scalars(select(Agency).order_by(Agency.level, Agency.name)).all()
    if name == "users":
        context.update(users=list_staff(session), agencies=agencies, roles=list(StaffRole))
    elif name == "agencies":
        context.update(agencies=agencies)
    elif name == "routing":
        filters = configuration.RuleFilter(
            category=request.query_params.get("category") or None,
            ward=request.query_params.get("ward") or None,
            agency=request.query_params.get("agency") or None,
        )
        context.update(
            rules=configuration.list_rules(session, principal=who.principal, filters=filters),
            filters=filters,
            agencies=[a for a in agencies if a.active],
            categories=session.execute(
                select(Category.code, Category.name).order_by(Category.name)
            ).all(),
            wards=session.execute(select(Ward.code, Ward.name).order_by(Ward.name)).all(),
        )
    elif name == "calendar":
        context.update(days=configuration.list_calendar_days(session))
    elif name == "faq":
        context.update(entries=configuration.list_faq(session))
    elif name == "templates":
        context.update(
            entries=reply_templates.list_entries(session),
            shipped=reply_templates.load_templates(),
        )
    elif name == "apikeys":
        context.update(
            keys=apikeys.list_api_keys(session, principal=who.principal),
            new_secret=None,
            new_key=None,
        )
        context.update(extra or {})
    return render(request, f"settings_{name}.html", context, who=who, status_code=status_code)


def _refused(
    request: Request, session: SessionDep, who: Staff, name: str, exc: AppError
) -> Response:
    session.rollback()
    return _page(request, session, who, name, error=exc.message, status_code=exc.status_code)


@router.get("/{name}")
def settings_page(request: Request, session: SessionDep, who: Staff, name: str) -> Response:
    if name == "audit":
        return audit(request, session, who)
    if name not in ("users", "agencies", "routing", "calendar", "faq", "templates", "apikeys"):
        raise Invalid("Không có trang cài đặt này.")
    return _page(request, session, who, name)


def audit(request: Request, session: SessionDep, who: Staff) -> Response:
    before = request.query_params.get("before")
    entries = list_audit(
        session,
        principal=who.principal,
        action=request.query_params.get("action") or None,
        actor=request.query_params.get("actor") or None,
        before_id=int(before) if before and before.isdigit() else None,
    )
    return render(request, "settings_audit.html", {"entries": entries, "tab": "audit"}, who=who)


@guarded.post("/users")
def create_user(
    request: Request,
    session: SessionDep,
    who: Staff,
    username: Annotated[str, Form(max_length=80)],
    password: Annotated[str, Form(max_length=200)],
    role: Annotated[StaffRole, Form()],
    agency: Annotated[str, Form(max_length=40)] = "",
    full_name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        staff.add_user(
            session,
            principal=who.principal,
            username=username.strip(),
            password=password,
            role=role,
            agency_code=agency or None,
            full_name=full_name,
            ip=client_ip(request),
        )
    except AppError as exc:
        return _refused(request, session, who, "users", exc)
    return _back("users")


@guarded.post("/users/{user_id}")
def update_user(
    request: Request,
    session: SessionDep,
    who: Staff,
    user_id: int,
    role: Annotated[StaffRole, Form()],
    agency: Annotated[str, Form(max_length=40)] = "",
    active: Annotated[bool, Form()] = False,
    password: Annotated[str, Form(max_length=200)] = "",
    reset_totp: Annotated[bool, Form()] = False,
    unlock: Annotated[bool, Form()] = False,
) -> Response:
    try:
        staff.update_user(
            session,
            principal=who.principal,
            user_id=user_id,
            role=role,
            agency_code=agency or None,
            active=active,
            ip=client_ip(request),
        )
        if password:
            staff.reset_password(
                session,
                principal=who.principal,
                user_id=user_id,
                password=password,
                ip=client_ip(request),
            )
        if reset_totp:
            staff.reset_second_factor(
                session, principal=who.principal, user_id=user_id, ip=client_ip(request)
            )
        if unlock:
            staff.unlock_user(
                session, principal=who.principal, user_id=user_id, ip=client_ip(request)
            )
    except AppError as exc:
        return _refused(request, session, who, "users", exc)
    return _back("users")


@guarded.post("/agencies/{code}")
def update_agency(
    request: Request,
    session: SessionDep,
    who: Staff,
    code: str,
    name: Annotated[str, Form(max_length=200)],
    active: Annotated[bool, Form()] = False,
) -> Response:
    try:
        configuration.update_agency(
            session,
            principal=who.principal,
            code=code,
            name=name,
            active=active,
            ip=client_ip(request),
        )
    except AppError as exc:
        return _refused(request, session, who, "agencies", exc)
    forget_choices()
    return _back("agencies")


@guarded.post("/routing")
def add_rule(
    request: Request,
    session: SessionDep,
    who: Staff,
    category: Annotated[str, Form(max_length=40)],
    agency: Annotated[str, Form(max_length=40)],
    priority: Annotated[int, Form()] = 0,
    ward: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    try:
        configuration.add_rule(
            session,
            principal=who.principal,
            category=category,
            ward_code=ward or None,
            agency_code=agency,
            priority=priority,
            ip=client_ip(request),
        )
    except AppError as exc:
        return _refused(request, session, who, "routing", exc)
    return _back("routing", f"&category={quote(category)}")


@guarded.post("/routing/{rule_id}")
def change_rule(
    request: Request,
    session: SessionDep,
    who: Staff,
    rule_id: int,
    priority: Annotated[int, Form()] = 0,
    delete: Annotated[bool, Form()] = False,
) -> Response:
    try:
        if delete:
            configuration.delete_rule(
                session, principal=who.principal, rule_id=rule_id, ip=client_ip(request)
            )
        else:
            configuration.set_rule_priority(
                session,
                principal=who.principal,
                rule_id=rule_id,
                priority=priority,
                ip=client_ip(request),
            )
    except AppError as exc:
        return _refused(request, session, who, "routing", exc)
    return _back("routing")


@guarded.post("/calendar")
def set_day(
    request: Request,
    session: SessionDep,
    who: Staff,
    day: Annotated[date, Form()],
    name: Annotated[str, Form(max_length=200)],
    working: Annotated[bool, Form()] = False,
) -> Response:
    try:
        configuration.set_calendar_day(
            session,
            principal=who.principal,
            day=day,
            name=name,
            working=working,
            ip=client_ip(request),
        )
    except AppError as exc:
        return _refused(request, session, who, "calendar", exc)
    return _back("calendar")


@guarded.post("/calendar/{day}/delete")
def delete_day(request: Request, session: SessionDep, who: Staff, day: date) -> Response:
    try:
        configuration.delete_calendar_day(
            session, principal=who.principal, day=day, ip=client_ip(request)
        )
    except AppError as exc:
        return _refused(request, session, who, "calendar", exc)
    return _back("calendar")


@guarded.post("/faq")
def save_faq(
    request: Request,
    session: SessionDep,
    who: Staff,
    entry_id: Annotated[str, Form(max_length=60)],
    question: Annotated[str, Form(max_length=1000)],
    answer: Annotated[str, Form(max_length=5000)],
    alternatives: Annotated[str, Form(max_length=5000)] = "",
    answer_en: Annotated[str, Form(max_length=5000)] = "",
    active: Annotated[bool, Form()] = False,
) -> Response:
    try:
        configuration.save_faq(
            session,
            principal=who.principal,
            entry_id=entry_id,
            question=question,
            answer=answer,
            alternatives=alternatives.splitlines(),
            answer_en=answer_en,
            active=active,
            ip=client_ip(request),
        )
    except AppError as exc:
        return _refused(request, session, who, "faq", exc)
    return _back("faq")


@guarded.post("/faq/{entry_id}/delete")
def delete_faq(request: Request, session: SessionDep, who: Staff, entry_id: str) -> Response:
    try:
        configuration.delete_faq(
            session, principal=who.principal, entry_id=entry_id, ip=client_ip(request)
        )
    except AppError as exc:
        return _refused(request, session, who, "faq", exc)
    return _back("faq")


@guarded.post("/templates")
def save_template(
    request: Request,
    session: SessionDep,
    who: Staff,
    template_id: Annotated[str, Form(max_length=60)],
    action: Annotated[str, Form(max_length=10)],
    title: Annotated[str, Form(max_length=200)],
    vi: Annotated[str, Form(max_length=5000)],
    en: Annotated[str, Form(max_length=5000)],
    active: Annotated[bool, Form()] = False,
) -> Response:
    try:
        reply_templates.save(
            session,
            principal=who.principal,
            template_id=template_id,
            action=action,
            title=title,
            vi=vi,
            en=en,
            active=active,
            ip=client_ip(request),
        )
    except AppError as exc:
        return _refused(request, session, who, "templates", exc)
    return _back("templates")


@guarded.post("/templates/{template_id}/delete")
def delete_template(
    request: Request, session: SessionDep, who: Staff, template_id: str
) -> Response:
    try:
        reply_templates.delete(
            session, principal=who.principal, template_id=template_id, ip=client_ip(request)
        )
    except AppError as exc:
        return _refused(request, session, who, "templates", exc)
    return _back("templates")


@guarded.post("/apikeys")
def create_api_key(
    request: Request,
    session: SessionDep,
    who: Staff,
    name: Annotated[str, Form(max_length=100)],
    scope: Annotated[ApiKeyScope, Form()],
) -> Response:
    try:
        new = apikeys.create_api_key(
            session, name=name, scope=scope, actor=who.principal, ip=client_ip(request)
        )
    except AppError as exc:
        return _refused(request, session, who, "apikeys", exc)
    # Rendered, not redirected: the key is shown this once and never stored (the panel's
    # pages are sent with Cache-Control: no-store).
    return _page(
        request, session, who, "apikeys", extra={"new_secret": new.secret, "new_key": new.key}
    )


@guarded.post("/apikeys/{key_id}/revoke")
def revoke_api_key(request: Request, session: SessionDep, who: Staff, key_id: int) -> Response:
    try:
        apikeys.revoke_api_key(
            session, principal=who.principal, key_id=key_id, ip=client_ip(request)
        )
    except AppError as exc:
        return _refused(request, session, who, "apikeys", exc)
    return _back("apikeys")


router.include_router(guarded)
