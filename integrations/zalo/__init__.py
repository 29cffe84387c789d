"""Zalo Official Account (OpenAPI v3): the webhook's events in, consultation messages out.

- `events.py` reads a webhook (its signature, its events) without any network;
- `client.py` is our thin async client of Zalo's OpenAPI, OAuth and ZNS (httpx);
- `tokens.py` keeps the OA's access and refresh tokens (the `channel_tokens` row "zalo");
- `adapter.py` is the channel adapter the gateway and the delivery call;
- `tasks.py` renews the tokens on beat's schedule, even when nobody writes.

Protocol facts: ../shared/channels.md, sections 1.1–1.13.
"""
