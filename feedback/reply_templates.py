"""Reply templates staff pick on a ticket's page, in the citizen's language.

Staff work in Vietnamese. A firm's staff member or an expat who wrote in English is answered
in English, so each template has both texts (feedback/reply_templates.yaml); staff see the
Vietnamese meaning of what they are about to send, and edit it before sending.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from feedback.models import Ticket

TEMPLATES_FILE = Path(__file__).resolve().parent / "reply_templates.yaml"
ACTIONS = ("reply", "resolve")
PLACEHOLDERS = {"code", "agency"}


@dataclass(frozen=True)
class ReplyTemplate:
    id: str
    action: str  # the ticket action whose message it fills: "reply" or "resolve"
    title: str  # what staff see, in Vietnamese
    vi: str
    en: str

    def text(self, language: str, *, code: str, agency: str) -> str:
        """The template in the citizen's language ("vi" or "en"), filled in."""
        chosen = self.en if language == "en" else self.vi
        return chosen.format(code=code, agency=agency)


def fill(template: ReplyTemplate, ticket: Ticket, language: str) -> str:
    """The template for this ticket, in `language`: its code, and its agency's name (a general
    word for one while the ticket waits in triage)."""
    if ticket.agency is not None:
        agency = ticket.agency.name
    else:
        agency = "The responsible agency" if language == "en" else "Cơ quan chức năng"
    return template.text(language, code=ticket.code, agency=agency)


@lru_cache
def load_templates(path: Path = TEMPLATES_FILE) -> tuple[ReplyTemplate, ...]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    templates = tuple(
        ReplyTemplate(
            id=str(item["id"]),
            action=str(item["action"]),
            title=str(item["title"]),
            vi=str(item["vi"]),
            en=str(item["en"]),
        )
        for item in data.get("templates", [])
    )
    for template in templates:
        _check(path, template)
    if len({t.id for t in templates}) != len(templates):
        raise ValueError(f"{path}: two reply templates share an id")
    return templates


def find(template_id: str) -> ReplyTemplate | None:
    return next((t for t in load_templates() if t.id == template_id), None)


def _check(path: Path, template: ReplyTemplate) -> None:
    """A template that would fail to fill, or fill only one language, fails at load instead."""
    if template.action not in ACTIONS:
        raise ValueError(f"{path}: {template.id}: action must be one of {ACTIONS}")
    for text in (template.vi, template.en):
        if not text.strip():
            raise ValueError(f"{path}: {template.id}: both `vi` and `en` are needed")
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
        if not names <= PLACEHOLDERS:
            raise ValueError(f"{path}: {template.id}: unknown placeholder {names - PLACEHOLDERS}")
