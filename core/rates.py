"""A limit written as a setting: "<amount>/<period>" ("20/minute", "50MB/day"), or "off".

Kept apart from core/ratelimit.py, which counts, so that the settings can check a limit when
they are read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
UNITS = {"": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3}
_RATE = re.compile(r"^\s*(\d+)\s*([kmg]b)?\s*/\s*(second|minute|hour|day)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Rate:
    amount: int  # events, or bytes
    seconds: int


def parse_rate(text: str) -> Rate | None:
    """A limit setting as a Rate; None when it is off ("" or "off")."""
    if text.strip().lower() in ("", "off"):
        return None
    match = _RATE.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a limit: write <amount>/<period>, the period one of second, "
            'minute, hour, day ("20/minute", "50MB/day"), or "off"'
        )
    amount, unit, period = match.groups()
    return Rate(int(amount) * UNITS[(unit or "").lower()], PERIODS[period.lower()])
