"""Client addresses for the test clients."""

from __future__ import annotations

import random


def own_address() -> tuple[str, int]:
    """An address of the test's own: the rate limits count per address, in a Redis that other
    tests and runs share."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}", 50000
