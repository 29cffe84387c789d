"""Open311 GeoReport v2: the responses against the spec's field lists, in JSON and in XML, the
spec's errors, and a POSTed request that becomes a ticket routed like any other."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest

from feedback.models import Ticket, Ward
from tests.feedback.helpers import route

# GeoReport v2's fields (wiki.open311.org/GeoReport_v2), as the spec lists them.
SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type", "keywords",
                  "group"}  # fmt: skip
ATTRIBUTE_FIELDS = {"variable", "code", "datatype", "required", "datatype_description", "order",
                    "description", "values"}  # fmt: skip
REQUEST_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat", "long",
    "media_url",
}  # fmt: skip
EXTENSIONS = {"extended_attributes"}  # mySociety's extended status
POSTED_FIELDS = {"service_request_id", "token", "service_notice", "account_id"}
DISCOVERY_FIELDS = {"changeset", "contact", "key_service", "endpoints"}
ENDPOINT_FIELDS = {"specification", "url", "changeset", "type", "formats"}
MYSOCIETY_STATUSES = {"open", "closed", "fixed", "in_progress", "action_scheduled",
                      "investigating", "duplicate", "not_councils_responsibility",
                      "no_further_action", "internal_referral", "reopen", "for_triage"}  # fmt: skip

SECRET_TEXT = "Ống nước vỡ trước nhà bà Tư, gọi 0987 654 321 hoặc tu@example.vn"


def _xml(response) -> ElementTree.Element:
    assert response.headers["content-type"].startswith("text/xml")
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ElementTree.fromstring(response.content)


def _children(element: ElementTree.Element) -> set[str]:
    return {child.tag for child in element}


def test_services_and_their_definitions_in_json_and_xml(client):
    services = client.get("/open311/v2/services.json")
    assert services.status_code == 200 and services.headers["content-type"].startswith(
        "application/json"
    )
    listed = services.json()
    assert len(listed) == 14 and all(set(s) == SERVICE_FIELDS for s in listed)
    assert {"service_code": "moi_truong", "metadata": True, "type": "realtime"}.items() <= next(
        s for s in listed if s["service_code"] == "moi_truong"
    ).items()

    root = _xml(client.get("/open311/v2/services.xml"))
    assert root.tag == "services" and len(root) == 14
    assert all(child.tag == "service" and _children(child) == SERVICE_FIELDS for child in root)

    definition = client.get("/open311/v2/services/moi_truong.json").json()
    assert set(definition) == {"service_code", "attributes"}
    (attribute,) = definition["attributes"]
    assert set(attribute) == ATTRIBUTE_FIELDS
    assert {v["key"] for v in attribute["values"]} >= {"complaint", "suggestion"}
    root = _xml(client.get("/open311/v2/services/moi_truong.xml"))
    assert root.tag == "service_definition"
    assert _children(root.find("attributes/attribute")) == ATTRIBUTE_FIELDS
    assert root.find("attributes/attribute/values/value/key") is not None


def test_errors_have_the_specs_shape_in_both_formats(client):
    missing = client.get("/open311/v2/services/khong_co.json")
    assert missing.status_code == 404
    assert missing.json() == [{"code": 404, "description": "Unknown service_code 'khong_co'."}]
    root = _xml(client.get("/open311/v2/services/khong_co.xml"))
    assert root.tag == "errors" and _children(root.find("error")) == {"code", "description"}
    assert root.find("error/code").text == "404"
    assert client.get("/open311/v2/services.html").status_code == 404
    too_long = client.get(
        "/open311/v2/requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z"
    )
    assert too_long.status_code == 400 and "90 days" in too_long.json()[0]["description"]
    assert client.get("/open311/v2/requests.xml?start_date=yesterday").status_code == 400
    assert client.get("/open311/v2/requests.json?status=pending").status_code == 400


def test_discovery(client):
    body = client.get("/open311/v2/discovery.json").json()
    assert set(body) == DISCOVERY_FIELDS
    assert set(body["endpoints"][0]) == ENDPOINT_FIELDS
    assert body["endpoints"][0]["url"].endswith("/open311/v2")
    root = _xml(client.get("/open311/v2/discovery.xml"))
    assert root.tag == "discovery"
    formats = [f.text for f in root.findall("endpoints/endpoint/formats/format")]
    assert formats == ["text/xml", "application/json"]


def test_a_posted_request_becomes_a_ticket_routed_like_any_other(
    client, db_session, api_key, sent_tasks
):
    ward = db_session.get(Ward, "25747")
    key = api_key("open311")
    form = {
        "api_key": key,
        "service_code": "moi_truong",
        "lat": str(ward.latitude + 0.001),
        "long": str(ward.longitude - 0.001),
        "description": SECRET_TEXT,
        "media_url": "https://anh.example.vn/ong-nuoc.jpg",
        "attribute[kind]": "complaint",
        "email": "tu@example.vn",
        "first_name": "Tư",
        "phone": "0987654321",
    }

    refused = client.post("/open311/v2/requests.json", data={**form, "api_key": ""})
    assert refused.status_code == 403 and refused.json()[0]["code"] == 403
    wrong_scope = client.post("/open311/v2/requests.xml", data={**form, "api_key": api_key("ioc")})
    assert wrong_scope.status_code == 403 and _xml(wrong_scope).tag == "errors"
    nowhere = client.post(
        "/open311/v2/requests.json", data={**form, "lat": "", "long": "", "address_string": ""}
    )
    assert nowhere.status_code == 400 and "location" in nowhere.json()[0]["description"]

    posted = client.post("/open311/v2/requests.json", data=form)

    assert posted.status_code == 201, posted.text
    (created,) = posted.json()
    assert set(created) == POSTED_FIELDS
    ticket = db_session.get(Ticket, int(created["service_request_id"]))
    assert (ticket.channel, ticket.category_code, ticket.ward_code) == (
        "open311",
        "moi_truong",
        "25747",
    )
    assert ticket.contact_id is None  # the reporter's details are not kept
    assert ticket.code in created["service_notice"]
    assert ("feedback.route_ticket", {"ticket_id": ticket.id}) in sent_tasks
    assert route(db_session, ticket.code).status.value == "assigned"

    token = client.get(f"/open311/v2/tokens/{created['token']}.json").json()
    assert token == [{"service_request_id": str(ticket.id), "token": created["token"]}]
    root = _xml(client.get(f"/open311/v2/tokens/{created['token']}.xml"))
    assert root.find("request/service_request_id").text == str(ticket.id)
    assert client.get("/open311/v2/tokens/1-forged.json").status_code == 404

    listed = client.get(f"/open311/v2/requests/{ticket.id}.json").json()
    (request,) = listed
    assert set(request) == REQUEST_FIELDS | EXTENSIONS
    assert request["status"] == "open"
    assert request["extended_attributes"]["status"] in MYSOCIETY_STATUSES
    assert (request["lat"], request["long"]) == (ward.latitude, ward.longitude)  # the centre
    assert request["address"] == ward.name and request["media_url"] is None
    assert request["description"] == request["service_name"]  # never the citizen's words
    assert request["agency_responsible"]
    datetime.fromisoformat(request["requested_datetime"].replace("Z", "+00:00"))

    root = _xml(client.get(f"/open311/v2/requests/{ticket.id}.xml"))
    assert root.tag == "service_requests"
    assert _children(root.find("request")) == REQUEST_FIELDS | EXTENSIONS
    for response in (
        client.get(f"/open311/v2/requests/{ticket.id}.json"),
        client.get(f"/open311/v2/requests/{ticket.id}.xml"),
        client.get("/open311/v2/requests.json"),
        client.get("/open311/v2/requests.xml"),
    ):
        # The whole number, not "0987": a timestamp's microseconds can hold those digits.
        for phone in ("0987654321", "0987 654 321"):
            assert phone not in response.text
        assert "Tư" not in response.text
        assert "example.vn" not in response.text and ticket.code not in response.text
        assert not re.search(r"0\d{2}\s?\d{3}\s?\d{3,4}", response.text)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_the_request_list_filters_as_the_spec_says(client, db_session, api_key, fmt):
    key = api_key("open311")
    ward = db_session.get(Ward, "25747")
    ids = []
    for code in ("moi_truong", "giao_thong"):
        posted = client.post(
            f"/open311/v2/requests.{fmt}",
            data={"api_key": key, "service_code": code, "address_string": "12 Yersin",
                  "description": "Cống nghẹt"},
        )  # fmt: skip
        assert posted.status_code == 201
        ids.append(
            posted.json()[0]["service_request_id"]
            if fmt == "json"
            else _xml(posted).find("request/service_request_id").text
        )
    assert ward is not None

    def listed(query: str) -> list[str]:
        response = client.get(f"/open311/v2/requests.{fmt}?{query}")
        assert response.status_code == 200, response.text
        if fmt == "json":
            return [r["service_request_id"] for r in response.json()]
        return [e.text for e in _xml(response).findall("request/service_request_id")]

    assert set(ids) <= set(listed(""))
    assert listed(f"service_request_id={ids[0]},{ids[1]}") == [ids[1], ids[0]]  # newest first
    assert ids[0] in listed("service_code=moi_truong") and ids[1] not in listed(
        "service_code=moi_truong"
    )
    assert ids[0] in listed("status=open") and ids[0] not in listed("status=closed")
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert ids[0] not in listed(f"start_date={later}".replace("+", "%2B"))
