"""The composed application: health, readiness, the OpenAPI document, the home page."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

from core.settings import get_settings


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_each_dependency(client: TestClient, monkeypatch) -> None:
    # Real PostgreSQL and Redis are up in the test run; Rasa is not started here.
    monkeypatch.setattr(get_settings(), "rasa_url", "http://127.0.0.1:9")
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "up", "broker": "up", "rasa": "down"},
    }


def test_readyz_is_503_when_the_broker_is_down(client: TestClient, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "broker_url", "redis://127.0.0.1:9/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "down"
    assert response.json()["checks"]["database"] == "up"


def test_readyz_sees_a_running_rasa(client: TestClient, monkeypatch) -> None:
    calls = []

    def fake_get(url: str, timeout: float) -> httpx.Response:
        calls.append(url)
        return httpx.Response(200, text="Hello from Rasa: 3.6.21")

    monkeypatch.setattr(get_settings(), "rasa_url", "http://rasa.internal:5005")
    monkeypatch.setattr(httpx, "get", fake_get)
    assert client.get("/readyz").json()["checks"]["rasa"] == "up"
    assert calls == ["http://rasa.internal:5005"]


def test_openapi_documents_every_contract_route_with_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path, method in [
        ("/api/v1/auth/token", "post"),
        ("/api/v1/agencies", "get"),
        ("/api/v1/tickets", "post"),
        ("/api/v1/tickets", "get"),
        ("/api/v1/tickets/{code}", "get"),
        ("/api/v1/tickets/{code}/{action}", "post"),
        ("/api/v1/public/tickets/{code}", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ]:
        assert method in paths[path], f"{method.upper()} {path} missing"
        assert paths[path][method].get("description") or paths[path][method].get("summary")
    ticket_create = spec["components"]["schemas"]["TicketCreate"]
    assert ticket_create["examples"][0]["description"]
    action_body = paths["/api/v1/tickets/{code}/{action}"]["post"]["requestBody"]
    assert "reply" in action_body["content"]["application/json"]["examples"]


def test_home_page_is_vietnamese(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "Tiếp Dân" in response.text and 'lang="vi"' in response.text


def test_the_widget_is_one_local_script_on_the_demo_page(client: TestClient) -> None:
    page = client.get("/").text
    assert '<script src="/webchat/widget.js" defer></script>' in page
    assert "cdn" not in page.lower()
    widget = client.get("/webchat/widget.js")
    assert widget.status_code == 200
    assert widget.headers["content-type"].startswith("text/javascript")
    assert "/api/v1/webchat/ws/" in widget.text and "aria-live" in widget.text


def test_only_the_listed_portals_may_call_the_web_chat(monkeypatch) -> None:
    """TIEPDAN_WEBCHAT_ORIGINS opens the web chat's endpoints to the portals that embed the
    widget, and nothing else of the API."""
    from tiepdan.app import create_app

    monkeypatch.setattr(
        get_settings(), "webchat_origins", "https://cong.example.gov.vn, https://dvc.example.vn/"
    )

    def preflight(client: TestClient, path: str, origin: str) -> Any:
        return client.options(
            path,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )

    with TestClient(create_app()) as client:
        for origin in ("https://cong.example.gov.vn", "https://dvc.example.vn"):
            allowed = preflight(client, "/api/v1/webchat/sessions", origin)
            assert allowed.status_code == 200
            assert allowed.headers["access-control-allow-origin"] == origin
        other = preflight(client, "/api/v1/webchat/sessions", "https://lua-dao.example.com")
        assert "access-control-allow-origin" not in other.headers
        staff = preflight(client, "/api/v1/tickets", "https://cong.example.gov.vn")
        assert "access-control-allow-origin" not in staff.headers


def test_the_demo_page_shows_the_embedding_snippet_under_a_strict_policy(
    client: TestClient,
) -> None:
    page = client.get("/")
    snippet = '&lt;script src="http://testserver/webchat/widget.js" defer&gt;&lt;/script&gt;'
    assert snippet in page.text  # this platform's own address, ready to copy
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "<style" not in page.text
    assert client.get("/webchat/widget.css").headers["content-type"].startswith("text/css")
