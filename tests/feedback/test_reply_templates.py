"""Reply templates: every one fills in both languages; a broken one fails at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedback import reply_templates


def test_every_template_fills_in_vietnamese_and_in_english():
    templates = reply_templates.load_templates()

    assert {t.action for t in templates} == {"reply", "resolve"}
    for template in templates:
        vi = template.text("vi", code="PA7K3M9QXT", agency="UBND phường Bến Thành")
        en = template.text("en", code="PA7K3M9QXT", agency="UBND phường Bến Thành")
        assert "PA7K3M9QXT" in vi and "PA7K3M9QXT" in en and vi != en
        assert "{" not in vi + en


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("action: close\n    vi: a\n    en: b", "action must be"),
        ("action: reply\n    vi: a\n    en: ''", "both `vi` and `en`"),
        ("action: reply\n    vi: 'Gửi {name}'\n    en: b", "unknown placeholder"),
    ],
)
def test_a_broken_template_fails_at_load(tmp_path: Path, body: str, reason: str):
    path = tmp_path / "templates.yaml"
    path.write_text(f"templates:\n  - id: x\n    title: X\n    {body}\n", encoding="utf-8")

    with pytest.raises(ValueError, match=reason):
        reply_templates.load_templates(path)
