"""The ticket page and its actions: the same services and rules as the API
(feedback.service.apply_action, feedback.policy), so nothing here decides who may do what."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from admin import transcripts
from admin.choices import choices
from admin.deps import Staff, check_csrf
from admin.sessions import SignedIn
from admin.templating import render
from core.errors import AppError, Forbidden, Invalid
from core.http import SessionDep, client_ip
from feedback import attachments, queries, reply_templates, service
from feedback.audit import mask_name, mask_phone, reveal_contact
from feedback.lifecycle import TRANSITIONS
from feedback.models import Contact, Ticket
from feedback.policy import can_see_ticket, require_action
from feedback.schemas import latest_rating
from feedback.sla import current_calendar

router = APIRouter()
guarded = APIRouter(dependencies=[Depends(check_csrf)])

ACTIONS = [name for name in TRANSITIONS if name != "route"]
MAX_EVIDENCE_FILES = 5


def allowed_actions(who: SignedIn, ticket: Ticket) -> set[str]:
    """What this person may do to this ticket now: the status machine and the policy agree."""
    allowed = set()
    for action in ACTIONS:
        if ticket.status not in TRANSITIONS[action].allowed_from:
            continue
        try:
            require_action(who.principal, action)
        except Forbidden:
            continue
        allowed.add(action)
    return allowed


def ticket_context(session: Session, who: SignedIn, ticket: Ticket) -> dict[str, Any]:
    contact = ticket.contact
    lists = choices(session)
    return {
        "ticket": ticket,
        "allowed": allowed_actions(who, ticket),
        "calendar": current_calendar(session),
        "place": transcripts.place(session, ticket),
        "transcripts": transcripts.transcripts(session, ticket, principal=who.principal),
        "duplicates": [
            d
            for d in queries.list_duplicates(session, ticket=ticket)
            if can_see_ticket(who.principal, d)
        ],
        "rating": latest_rating(ticket),
        "staff": transcripts.agency_staff(session, ticket),
        "agencies": lists.agencies,
        "categories": lists.categories,
        "category_names": lists.category_names,
        "masked": {
            "name": mask_name(contact.name) if contact else None,
            "phone": mask_phone(contact.phone) if contact else None,
            "company": contact.company_name if contact else None,
        },
        "revealed": None,
        "form": {},
        "photos": [a["url"] for a in ticket.attachments if a.get("type") == "photo"],
        "templates": reply_templates.templates(session),
        "template_meaning": None,
    }


@router.get("/tickets/{code}")
def ticket_page(
    request: Request, session: SessionDep, who: Staff, code: str, mau: str | None = None
) -> Response:
    """The ticket; `mau` (a reply template's id) fills its form with the template, in the
    citizen's language, and shows staff its Vietnamese meaning."""
    ticket = queries.get_ticket(session, code=code, principal=who.principal)
    context = ticket_context(session, who, ticket)
    # The templates the page offers, read once for the page.
    template = next((t for t in context["templates"] if t.id == mau), None) if mau else None
    if template is not None and template.action in context["allowed"]:
        context["form"] = {
            "action": template.action,
            "message": reply_templates.fill(template, ticket, ticket.language),
        }
        if ticket.language != "vi":
            context["template_meaning"] = reply_templates.fill(template, ticket, "vi")
    return render(request, "ticket.html", context, who=who)


@router.get("/tickets/{code}/timeline")
def timeline(request: Request, session: SessionDep, who: Staff, code: str) -> Response:
    """The history and the conversation alone, for the page's refresh."""
    ticket = queries.get_ticket(session, code=code, principal=who.principal)
    return render(request, "_timeline.html", ticket_context(session, who, ticket), who=who)


@guarded.post("/tickets/{code}/contact")
def reveal(request: Request, session: SessionDep, who: Staff, code: str) -> Response:
    """Show the contact in full; the read is written to the audit log."""
    contact: Contact | None = reveal_contact(
        session, code=code, principal=who.principal, ip=client_ip(request)
    )
    ticket = queries.get_ticket(session, code=code, principal=who.principal)
    context = ticket_context(session, who, ticket)
    context["revealed"] = contact
    return render(request, "ticket.html", context, who=who)


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


def _payload(action: str, form: FormData) -> dict[str, Any]:
    """The action's JSON body, as the API takes it, from the form's fields."""
    message = _text(form, "message")
    if action in ("assign", "transfer"):
        if action == "transfer" and not message:
            raise Invalid("Hãy nêu lý do chuyển phản ánh sang cơ quan khác.")
        return {
            "agency": _text(form, "agency") or "",
            "category": _text(form, "category"),
            "message": message,
        }
    if action in ("reply", "note", "resolve"):
        return {"message": message or ""}
    if action == "reject":
        return {"reason": _text(form, "reason") or ""}
    if action in ("start", "assign_staff"):
        return {"assignee": _text(form, "assignee"), "message": message}
    if action == "recategorize":
        return {"category": _text(form, "category") or "", "message": message}
    if action == "merge":
        return {"into": _text(form, "into") or "", "message": message}
    return {"message": message}


async def _evidence(form: FormData) -> list[str]:
    files = [f for f in form.getlist("evidence") if isinstance(f, UploadFile) and f.filename]
    if len(files) > MAX_EVIDENCE_FILES:
        raise Invalid(f"Tối đa {MAX_EVIDENCE_FILES} tệp minh chứng mỗi lần.")
    urls = []
    for upload in files:
        data = await upload.read()
        urls.append(await run_in_threadpool(attachments.save_evidence, data))
    return urls


def _act(session: Session, who: SignedIn, code: str, action: str, payload: dict[str, Any]) -> None:
    if action not in ACTIONS:
        raise Invalid(f"Không có thao tác '{action}'.")
    if action == "start" and payload.get("assignee") is None:
        payload = {"message": payload.get("message")}
    try:
        body = service.parse_action_body(action, payload)
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][-1]) for e in exc.errors() if e.get("loc"))
        raise Invalid(f"Hãy điền đủ thông tin ({fields}).") from exc
    service.apply_action(session, code=code, action=action, body=body, principal=who.principal)


@guarded.post("/tickets/{code}/actions/{action}")
async def act(
    request: Request, session: SessionDep, who: Staff, code: str, action: str
) -> Response:
    """Run one action from the ticket page (or the triage queue), then show the ticket again.

    A refusal shows the page with the reason and keeps what was typed.
    """
    form = await request.form()
    back = _text(form, "back")
    try:
        payload = _payload(action, form)
        if action == "resolve":
            payload["attachments"] = await _evidence(form)
        await run_in_threadpool(_act, session, who, code, action, payload)
    except AppError as exc:
        # Nothing of the refused action is kept; what was typed is shown again.
        await run_in_threadpool(session.rollback)
        if back == "triage":
            raise
        ticket = await run_in_threadpool(
            queries.get_ticket, session, code=code, principal=who.principal
        )
        context = await run_in_threadpool(ticket_context, session, who, ticket)
        context.update(
            error=exc.message,
            form={"action": action, **{k: v for k, v in form.items() if isinstance(v, str)}},
        )
        return render(request, "ticket.html", context, who=who, status_code=exc.status_code)
    if back == "triage":
        return RedirectResponse(f"/admin/triage?done={action}", status_code=303)
    return RedirectResponse(f"/admin/tickets/{code}?done={action}", status_code=303)


router.include_router(guarded)
