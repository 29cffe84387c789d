"""The IOC pull API: who may read it, its parameters, and its JSON (documented in OpenAPI)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from feedback import kpi_aggregates
from feedback.apikeys import hash_key, revoke_api_key
from feedback.models import ApiKey, Ward
from tests.feedback.helpers import file_and_route
from tests.integrations.ioc.conftest import OPERATOR

pytestmark = pytest.mark.usefixtures("empty_aggregates")

REPORT = {
    "description": "Đèn đường trước số 12 Yersin tắt cả tuần nay",
    "ward_code": "25747",
    "category": "ha_tang_do_thi",
    "channel": "zalo",
}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_viewers_admins_dispatchers_and_ioc_keys_read_the_kpis(
    client, db_session, staff_token, api_key, service_headers
):
    file_and_route(client, db_session, service_headers, REPORT)
    kpi_aggregates.refresh(db_session)
    ioc_key = api_key("ioc")

    for headers in (
        staff_token("viewer"),
        staff_token("admin"),
        staff_token("dispatcher"),
        _bearer(ioc_key),
    ):
        response = client.get("/api/v1/ioc/kpis?group_by=agency", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"]["received"] >= 1
        assert body["group_by"] == "agency" and body["timezone"] == "Asia/Ho_Chi_Minh"
        assert body["fresh_as_of"] is not None
        assert "SXD" in {g["key"] for g in body["groups"]}

    assert client.get("/api/v1/ioc/kpis").status_code == 401
    assert (
        client.get("/api/v1/ioc/kpis", headers=staff_token("agency_staff", "SXD")).status_code
        == 403
    )
    assert client.get("/api/v1/ioc/kpis", headers=_bearer(api_key("open311"))).status_code == 403
    assert client.get("/api/v1/ioc/kpis", headers=_bearer("tdk_ioc_not-a-key")).status_code == 401
    # A key reads figures, never a ticket.
    assert client.get("/api/v1/tickets", headers=_bearer(ioc_key)).status_code == 403


def test_a_revoked_key_stops_working_at_once_and_only_its_hash_is_stored(
    client, db_session, api_key
):
    secret = api_key("ioc")
    stored = db_session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(secret)))
    assert stored is not None and secret not in (stored.prefix, stored.key_hash)
    assert client.get("/api/v1/ioc/hotspots", headers=_bearer(secret)).status_code == 200
    db_session.refresh(stored)
    assert stored.last_used_at is not None

    revoke_api_key(db_session, principal=OPERATOR, key_id=stored.id)
    db_session.commit()

    assert client.get("/api/v1/ioc/hotspots", headers=_bearer(secret)).status_code == 401


def test_every_grouping_and_clear_errors_for_bad_parameters(client, staff_token):
    viewer = staff_token("viewer")
    for group in ("agency", "category", "ward", "channel", "day"):
        response = client.get(
            f"/api/v1/ioc/kpis?from=2026-11-01&to=2026-11-30&group_by={group}", headers=viewer
        )
        assert response.status_code == 200, response.text
        assert response.json()["from"] == "2026-11-01" and response.json()["to"] == "2026-11-30"
    days = client.get("/api/v1/ioc/kpis?from=2026-11-01&to=2026-11-30&group_by=day", headers=viewer)
    assert len(days.json()["groups"]) == 30
    # Datetimes are taken to their local days: [01/11 00:00, 01/12 00:00) local is November.
    moments = client.get(
        "/api/v1/ioc/kpis?from=2026-10-31T17:00:00Z&to=2026-12-01T00:00:00%2B07:00",
        headers=viewer,
    ).json()
    assert (moments["from"], moments["to"]) == ("2026-11-01", "2026-11-30")

    for query, words in (
        ("group_by=street", "group_by"),
        ("from=2026-13-01", "'from' must be a date"),
        ("to=yesterday", "'to' must be a date"),
        ("from=2026-11-30&to=2026-11-01", "'from' must not be after 'to'"),
        ("from=2020-01-01&to=2026-11-01", "at most 366 days"),
    ):
        response = client.get(f"/api/v1/ioc/kpis?{query}", headers=viewer)
        assert response.status_code == 422, query
        assert words in response.json()["detail"], response.json()


def test_the_wards_layer_puts_each_ward_at_its_centre(
    client, db_session, staff_token, service_headers
):
    file_and_route(client, db_session, service_headers, REPORT)
    kpi_aggregates.refresh(db_session)

    response = client.get("/api/v1/ioc/wards.geojson", headers=staff_token("viewer"))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    layer = response.json()
    assert layer["type"] == "FeatureCollection"
    ward = db_session.get(Ward, "25747")
    feature = next(f for f in layer["features"] if f["id"] == "25747")
    assert feature["geometry"] == {"type": "Point", "coordinates": [ward.longitude, ward.latitude]}
    assert feature["properties"]["received"] >= 1
    assert set(feature["properties"]) == {
        "ward_code", "ward_name", "received", "resolved", "on_time", "on_time_rate", "open",
        "backlog_end",
    }  # fmt: skip


def test_hotspots_answer_with_their_rule(client, staff_token):
    response = client.get(
        "/api/v1/ioc/hotspots?to=2026-11-30&window_days=7&baseline_windows=8",
        headers=staff_token("viewer"),
    )

    assert response.status_code == 200
    body = response.json()
    assert body["window_from"] == "2026-11-24" and body["baseline_from"] == "2026-09-29"
    assert body["rule"]["alpha"] == 0.001 and body["hotspots"] == []
    assert (
        client.get("/api/v1/ioc/hotspots?window_days=0", headers=staff_token("viewer")).status_code
        == 422
    )


def test_the_json_schema_is_in_openapi(client):
    spec = client.get("/openapi.json").json()

    assert "/api/v1/ioc/kpis" in spec["paths"] and "/api/v1/ioc/wards.geojson" in spec["paths"]
    kpis_schema = spec["components"]["schemas"]["KpisOut"]
    assert {"from", "to", "fresh_as_of", "total", "groups"} <= set(kpis_schema["properties"])
    figures = spec["components"]["schemas"]["FiguresOut"]["properties"]
    assert {"on_time_rate", "first_response", "csat", "reopen_rate", "backlog_end"} <= set(figures)


def test_the_cli_prints_a_key_once_and_stores_its_hash():
    from click.testing import CliRunner

    from core.database import session_scope
    from tiepdan.cli import main

    result = CliRunner().invoke(main, ["apikey", "create", "--name", "IOC tỉnh", "--scope", "ioc"])

    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[0]
    assert secret.startswith("tdk_ioc_") and len(secret) > 40
    with session_scope() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(secret)))
        assert key is not None and key.name == "IOC tỉnh"
        listed = CliRunner().invoke(main, ["apikey", "list"])
        assert key.prefix in listed.output and secret not in listed.output
        revoked = CliRunner().invoke(main, ["apikey", "revoke", str(key.id)])
        assert revoked.exit_code == 0
        session.delete(key)
