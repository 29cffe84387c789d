"""Logging set-up that masks personal data (phone and ID-card numbers) in every record.

Vietnam's personal-data rules apply to logs too: a log line may be shipped to a central
store, so numbers are masked before any handler sees them. So is a Telegram bot token, which
the Bot API puts in every URL (`/bot<token>/sendMessage`) and httpx logs each request's URL.
"""

from __future__ import annotations

import logging
import re

# Vietnamese mobile/landline numbers (0xx or +84xx, 9–11 digits, separators allowed) and the
# 12-digit citizen ID (CCCD) or 9-digit old ID (CMND).
_PHONE = re.compile(r"(?<!\d)(?:\+?84|0)(?:[\s.\-]?\d){8,10}(?!\d)")
_NATIONAL_ID = re.compile(r"(?<!\d)(?:\d{12}|\d{9})(?!\d)")
_BOT_TOKEN = re.compile(r"(?<=/bot)\d+:[\w-]+")


def mask_personal_data(text: str) -> str:
    """Keep the last three digits of a phone or ID number, mask the rest."""

    def keep_tail(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return "*" * (len(digits) - 3) + digits[-3:]

    text = _BOT_TOKEN.sub("<token>", text)  # before the numbers: its id is all digits
    return _NATIONAL_ID.sub(keep_tail, _PHONE.sub(keep_tail, text))


class PersonalDataFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_personal_data(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_logging(level: int = logging.INFO) -> None:
    """Log to stderr with personal data masked, for every logger of the process."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(PersonalDataFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
