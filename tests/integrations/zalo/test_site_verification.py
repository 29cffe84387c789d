"""Zalo accepts a webhook URL only on a domain whose home page carries its verification tag."""

from __future__ import annotations

import pytest

from core.settings import get_settings


def test_the_home_page_carries_zalos_verification_tag_when_set(
    client, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = client.get("/")
    assert plain.status_code == 200 and "zalo-platform-site-verification" not in plain.text
    monkeypatch.setattr(get_settings(), "zalo_site_verification", 'ab"c<d>')
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    head = page.text.split("</head>")[0]
    assert '<meta name="zalo-platform-site-verification" content="ab&quot;c&lt;d&gt;">' in head
    assert (
        page.text.replace(
            '\n<meta name="zalo-platform-site-verification" content="ab&quot;c&lt;d&gt;">', ""
        )
        == plain.text
    )
