"""Ticket reference codes: "PA" and eight characters a person can read out over the phone.

The code is what a citizen holds to follow their report, and the public lookup answers anyone
who has it, so it must not be guessable. The Rasa action server reads codes out of what people
type with a copy of this format (bot/rasa/actions/text.py); tests/feedback/test_ticket_codes.py
pins that copy to this one.
"""

from __future__ import annotations

import secrets

# Crockford's base32 without I, L, O, U: readable over the phone, no look-alike characters.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIX = "PA"
LENGTH = 8  # 32**8 ≈ 10**12 codes: guessing a live one is hopeless


def generate_ticket_code() -> str:
    # 32 letters: a random byte modulo 32 is uniform. One read of the OS's generator, not eight.
    return PREFIX + "".join(ALPHABET[b % 32] for b in secrets.token_bytes(LENGTH))


def normalize_ticket_code(raw: str) -> str:
    """Accept what people type: lower case, spaces, dashes, O for 0 and I or L for 1."""
    code = raw.upper().replace("-", "").replace(" ", "")
    if code.startswith(PREFIX):
        body = code[len(PREFIX) :].replace("O", "0").replace("I", "1").replace("L", "1")
        code = PREFIX + body
    return code
