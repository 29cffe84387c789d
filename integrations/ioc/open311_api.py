"""Open311 GeoReport v2 under /open311/v2/: every endpoint as `.json` and `.xml`, the spec's
field names and error format (`[{"code", "description"}]`, `<errors><error>`). The rules of
what is shown are in integrations/ioc/open311.py."""

from __future__ import annotations

import json
from typing import Annotated, Any
from xml.etree import ElementTree

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from core.errors import AppError
from core.http import SessionDep
from feedback.apikeys import principal_for_key
from feedback.policy import require_open311_filer
from integrations.ioc import open311
from integrations.ioc.open311 import Open311Error

router = APIRouter(prefix="/open311/v2", tags=["open311"])

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-04T00:00:00Z"
_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
# XML: the element of each item of a list.
_ITEM = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _add(parent: ElementTree.Element, key: str, value: Any) -> None:
    element = ElementTree.SubElement(parent, key)
    if isinstance(value, dict):
        for child_key, child in value.items():
            _add(element, child_key, child)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                _fill(ElementTree.SubElement(element, _ITEM.get(key, "item")), item)
            else:
                _add(element, _ITEM.get(key, "item"), item)
    else:
        element.text = _text(value)


def _fill(element: ElementTree.Element, values: dict[str, Any]) -> None:
    for key, value in values.items():
        _add(element, key, value)


def to_xml(root: str, payload: Any) -> bytes:
    """`payload` (a list of items, or one object) under `root`, as the spec's XML shows it."""
    element = ElementTree.Element(root)
    if isinstance(payload, list):
        for item in payload:
            _fill(ElementTree.SubElement(element, _ITEM[root]), item)
    else:
        _fill(element, payload)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(
        element, encoding="utf-8", xml_declaration=False
    )


def _format(fmt: str) -> str:
    if fmt not in _TYPES:
        raise Open311Error(f"Unknown format '.{fmt}': use .json or .xml.", status_code=404)
    return fmt


def respond(fmt: str, root: str, payload: Any, status_code: int = 200) -> Response:
    if fmt == "xml":
        body = to_xml(root, payload)
    else:
        body = json.dumps(payload, ensure_ascii=False).encode()
    return Response(body, status_code=status_code, media_type=_TYPES[fmt])


def error(fmt: str, exc: AppError) -> Response:
    fmt = fmt if fmt in _TYPES else "json"
    payload = [{"code": exc.status_code, "description": exc.message}]
    return respond(fmt, "errors", payload, status_code=exc.status_code)


def _answer(fmt: str, root: str, work: Any) -> Response:
    try:
        return respond(_format(fmt), root, work())
    except AppError as exc:
        return error(fmt, exc)


@router.get("/discovery.{fmt}")
def discovery(request: Request, fmt: str) -> Response:
    """Service discovery: where the endpoint is and what it speaks."""
    url = str(request.base_url).rstrip("/") + "/open311/v2"

    def work() -> dict[str, Any]:
        return {
            "changeset": CHANGESET,
            "contact": "Trung tâm Điều hành thông minh (IOC) của tỉnh",
            "key_service": "Khóa api_key (phạm vi open311) do quản trị viên cấp trong trang quản "
            "trị hoặc bằng lệnh `tiepdan apikey create --scope open311`.",
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": url,
                    "changeset": CHANGESET,
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        }

    return _answer(fmt, "discovery", work)


@router.get("/services.{fmt}")
def list_services(session: SessionDep, fmt: str, jurisdiction_id: str | None = None) -> Response:
    """The service list: the categories."""
    return _answer(fmt, "services", lambda: open311.services(session))


@router.get("/services/{code}.{fmt}")
def service_definition(session: SessionDep, code: str, fmt: str) -> Response:
    """A service's definition: its attributes."""
    return _answer(fmt, "service_definition", lambda: open311.service_definition(session, code))


@router.get("/requests.{fmt}")
def list_requests(
    session: SessionDep,
    fmt: str,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
    jurisdiction_id: str | None = None,
) -> Response:
    """Service requests, the most recent first (at most 1000, in at most 90 days)."""

    def work() -> list[dict[str, Any]]:
        filters = open311.request_filter(
            service_request_id=service_request_id,
            service_code=service_code,
            start_date=start_date,
            end_date=end_date,
            status=status,
        )
        return open311.list_requests(session, filters)

    return _answer(fmt, "service_requests", work)


@router.get("/requests/{request_id}.{fmt}")
def get_request(session: SessionDep, request_id: str, fmt: str) -> Response:
    """One service request."""
    return _answer(fmt, "service_requests", lambda: [open311.get_request(session, request_id)])


@router.get("/tokens/{token}.{fmt}")
def get_token(token: str, fmt: str) -> Response:
    """The service request id behind a token given by POST requests."""
    return _answer(fmt, "service_requests", lambda: [open311.request_for_token(token)])


def _float(value: str | None, name: str) -> float | None:
    if value is None or value.strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise Open311Error(f"{name} must be a number (WGS84 degrees).") from None


def _file(session: Session, form: dict[str, str | None]) -> dict[str, Any]:
    key = form.get("api_key")
    if not key:
        raise Open311Error("api_key is required to post a service request.", status_code=403)
    try:
        principal = principal_for_key(session, secret=key)
        require_open311_filer(principal)
    except AppError as exc:
        raise Open311Error(exc.message, status_code=403) from None
    try:
        return open311.create_request(
            session,
            principal=principal,
            service_code=form.get("service_code"),
            lat=_float(form.get("lat"), "lat"),
            long=_float(form.get("long"), "long"),
            address_string=form.get("address_string"),
            description=form.get("description"),
            media_url=form.get("media_url"),
            kind=form.get("attribute[kind]"),
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem.get("loc", ()))
        raise Open311Error(f"{field}: {problem.get('msg', 'invalid')}") from None


@router.post("/requests.{fmt}")
async def post_request(
    session: SessionDep,
    fmt: str,
    api_key: Annotated[str | None, Form()] = None,
    service_code: Annotated[str | None, Form()] = None,
    lat: Annotated[str | None, Form()] = None,
    long: Annotated[str | None, Form()] = None,
    address_string: Annotated[str | None, Form(max_length=500)] = None,
    description: Annotated[str | None, Form(max_length=4000)] = None,
    media_url: Annotated[str | None, Form(max_length=1000)] = None,
    kind: Annotated[str | None, Form(alias="attribute[kind]")] = None,
    jurisdiction_id: Annotated[str | None, Query()] = None,
) -> Response:
    """File a service request (application/x-www-form-urlencoded, with an `open311` api_key).
    The reporter's email, names and phone, if sent, are not kept."""
    form = {
        "api_key": api_key,
        "service_code": service_code,
        "lat": lat,
        "long": long,
        "address_string": address_string,
        "description": description,
        "media_url": media_url,
        "attribute[kind]": kind,
    }
    try:
        _format(fmt)
        created = await run_in_threadpool(_file, session, form)
    except AppError as exc:
        session.rollback()
        return error(fmt, exc)
    return respond(fmt, "service_requests", [created], status_code=201)
