"""Who may call what: every route of the API and of the panel, by class, and who each class lets
in. tests/security/test_authorization_matrix.py calls every route as every caller and holds the
answers to this table; a route that is not here fails that test until it is classified.

To classify a new route, add `("METHOD", "/path/{template}"): "<class>"` to ROUTES (the path as
the route table spells it, the panel's with its /admin prefix; a WebSocket's method is
"WEBSOCKET"). If its request needs a body or a path parameter the test does not know yet, add
it to REQUESTS in the test.
"""

from __future__ import annotations

CALLERS = (
    "anonymous",  # no credentials at all
    "citizen",  # a web-chat sender: holds its session id and its ticket's code, no token
    "service",  # the bot's action server (TIEPDAN_SERVICE_TOKEN)
    "viewer",  # the IOC's staff: aggregates only
    "staff_a",  # agency staff of agency A, which the test's ticket is routed to
    "staff_b",  # agency staff of agency B
    "dispatcher",
    "admin",
    "ioc_key",  # an API key with the 'ioc' scope
    "revoked_key",  # an 'ioc' API key that has been revoked
)

STAFF = frozenset({"viewer", "staff_a", "staff_b", "dispatcher", "admin"})
EVERYONE = frozenset(CALLERS)

# Per class, the callers it lets in; everyone else is refused (401, 403 or 404; the panel sends
# them to its sign-in page).
CLASSES: dict[str, frozenset[str]] = {
    # Anyone: health, the schema, the widget, the agencies list, open data, signing in.
    "public": EVERYONE,
    # Anyone who holds the unguessable name in the path (an uploaded photo or document).
    "by-secret": EVERYONE,
    # Anyone who holds the ticket's code: its status and public replies, no personal data.
    "citizen-by-code": EVERYONE,
    # The web chat's own session id is the credential; everyone else knows no valid one.
    "citizen-by-session": frozenset({"citizen"}),
    # /api/v1/bot: the Rasa action server speaking for a chat.
    "service-only": frozenset({"service"}),
    # Telegram and Zalo, by their signature; none of our callers can sign.
    "webhook-signed": frozenset(),
    # Filing a ticket: the bot and staff at an intake desk, not viewers nor API keys.
    "ticket-filer": frozenset({"service", "staff_a", "staff_b", "dispatcher", "admin"}),
    # Lists of tickets, each caller's own scope (agency staff: their agency's).
    "ticket-reader": frozenset({"staff_a", "staff_b", "dispatcher", "admin"}),
    # One ticket of agency A: its staff, dispatchers and admins; agency B's staff get 404.
    "own-agency": frozenset({"staff_a", "dispatcher", "admin"}),
    "dispatcher+admin": frozenset({"dispatcher", "admin"}),
    "admin-only": frozenset({"admin"}),
    # The panel's dashboards: every agency's figures.
    "dashboard": frozenset({"viewer", "dispatcher", "admin"}),
    # The IOC's pull API: the dashboard's readers and an 'ioc' key.
    "api-key-ioc": frozenset({"viewer", "dispatcher", "admin", "ioc_key"}),
    # Filing through Open311 needs an 'open311' key, which no caller here holds.
    "api-key-open311": frozenset(),
    # Any signed-in staff member (the panel's own account pages).
    "any-staff": STAFF,
}

ROUTES: dict[tuple[str, str], str] = {
    # The schema and its pages
    ("GET", "/openapi.json"): "public",
    ("GET", "/docs"): "public",
    ("GET", "/docs/oauth2-redirect"): "public",
    ("GET", "/redoc"): "public",
    ("GET", "/healthz"): "public",
    ("GET", "/readyz"): "public",
    # /metrics is public unless TIEPDAN_METRICS_TOKEN is set (it is not in the tests).
    ("GET", "/metrics"): "public",
    # feedback/api.py
    ("POST", "/api/v1/auth/token"): "public",
    ("GET", "/api/v1/agencies"): "public",
    ("POST", "/api/v1/tickets"): "ticket-filer",
    ("GET", "/api/v1/tickets"): "ticket-reader",
    ("GET", "/api/v1/tickets/{code}"): "own-agency",
    ("POST", "/api/v1/tickets/{code}/attachments"): "own-agency",
    ("POST", "/api/v1/tickets/{code}/{action}"): "own-agency",
    ("GET", "/api/v1/documents/{name}"): "by-secret",
    ("GET", "/api/v1/public/tickets/{code}"): "citizen-by-code",
    # bot/api.py
    ("POST", "/api/v1/bot/analyse"): "service-only",
    ("GET", "/api/v1/bot/faq"): "service-only",
    ("GET", "/api/v1/bot/tickets"): "service-only",
    ("POST", "/api/v1/bot/tickets/{code}/rating"): "service-only",
    ("POST", "/api/v1/bot/handoff"): "service-only",
    ("GET", "/api/v1/conversations"): "dispatcher+admin",
    ("GET", "/api/v1/conversations/{conversation_id}/messages"): "dispatcher+admin",
    ("POST", "/api/v1/conversations/{conversation_id}/reply"): "dispatcher+admin",
    ("POST", "/api/v1/conversations/{conversation_id}/handback"): "dispatcher+admin",
    # bot/webchat_api.py
    ("POST", "/api/v1/webchat/sessions"): "public",
    ("POST", "/api/v1/webchat/messages"): "citizen-by-session",
    ("POST", "/api/v1/webchat/photos"): "citizen-by-session",
    ("GET", "/api/v1/webchat/photos/{name}"): "by-secret",
    ("GET", "/api/v1/webchat/sessions/{session_id}/messages"): "citizen-by-session",
    ("WEBSOCKET", "/api/v1/webchat/ws/{session_id}"): "citizen-by-session",
    # bot/webhooks.py
    ("POST", "/webhooks/telegram"): "webhook-signed",
    ("POST", "/webhooks/zalo"): "webhook-signed",
    # integrations/webchat/pages.py
    ("GET", "/"): "public",
    ("GET", "/webchat/widget.js"): "public",
    ("GET", "/webchat/widget.css"): "public",
    ("GET", "/webchat/demo.css"): "public",
    # integrations/ioc/
    ("GET", "/api/v1/ioc/kpis"): "api-key-ioc",
    ("GET", "/api/v1/ioc/hotspots"): "api-key-ioc",
    ("GET", "/api/v1/ioc/wards.geojson"): "api-key-ioc",
    ("GET", "/open311/v2/discovery.{fmt}"): "public",
    ("GET", "/open311/v2/services.{fmt}"): "public",
    ("GET", "/open311/v2/services/{code}.{fmt}"): "public",
    ("GET", "/open311/v2/requests.{fmt}"): "public",
    ("GET", "/open311/v2/requests/{request_id}.{fmt}"): "public",
    ("GET", "/open311/v2/tokens/{token}.{fmt}"): "by-secret",
    ("POST", "/open311/v2/requests.{fmt}"): "api-key-open311",
    # The panel (admin/)
    ("GET", "/admin/login"): "public",
    ("POST", "/admin/login"): "public",
    ("GET", "/admin/login/totp"): "any-staff",
    ("POST", "/admin/login/totp"): "any-staff",
    ("GET", "/admin/login/totp/setup"): "any-staff",
    ("POST", "/admin/login/totp/setup"): "any-staff",
    ("POST", "/admin/logout"): "any-staff",
    ("GET", "/admin/password"): "any-staff",
    ("POST", "/admin/password"): "any-staff",
    ("GET", "/admin/"): "any-staff",
    ("GET", "/admin/queue"): "ticket-reader",
    ("GET", "/admin/queue/rows"): "ticket-reader",
    ("GET", "/admin/tickets/{code}"): "own-agency",
    ("GET", "/admin/tickets/{code}/timeline"): "own-agency",
    ("POST", "/admin/tickets/{code}/contact"): "own-agency",
    ("POST", "/admin/tickets/{code}/actions/{action}"): "own-agency",
    ("GET", "/admin/triage"): "dispatcher+admin",
    ("GET", "/admin/conversations"): "dispatcher+admin",
    ("GET", "/admin/conversations/{conversation_id}"): "dispatcher+admin",
    ("GET", "/admin/conversations/{conversation_id}/messages"): "dispatcher+admin",
    ("POST", "/admin/conversations/{conversation_id}/reply"): "dispatcher+admin",
    ("POST", "/admin/conversations/{conversation_id}/handback"): "dispatcher+admin",
    ("GET", "/admin/dashboard"): "dashboard",
    ("GET", "/admin/dashboard/{figure}.csv"): "dashboard",
    ("GET", "/admin/report/monthly"): "dashboard",
    ("GET", "/admin/settings/{name}"): "admin-only",
    ("POST", "/admin/settings/users"): "admin-only",
    ("POST", "/admin/settings/users/{user_id}"): "admin-only",
    ("POST", "/admin/settings/agencies/{code}"): "admin-only",
    ("POST", "/admin/settings/routing"): "admin-only",
    ("POST", "/admin/settings/routing/{rule_id}"): "admin-only",
    ("POST", "/admin/settings/calendar"): "admin-only",
    ("POST", "/admin/settings/calendar/{day}/delete"): "admin-only",
    ("POST", "/admin/settings/faq"): "admin-only",
    ("POST", "/admin/settings/faq/{entry_id}/delete"): "admin-only",
    ("POST", "/admin/settings/templates"): "admin-only",
    ("POST", "/admin/settings/templates/{template_id}/delete"): "admin-only",
    ("POST", "/admin/settings/apikeys"): "admin-only",
    ("POST", "/admin/settings/apikeys/{key_id}/revoke"): "admin-only",
}
