"""The rules Rasa's environment keeps a copy of, pinned to the platform's own.

Rasa and its action server run in their own Python (3.10) and containers, and cannot import
the platform. Where they need one of its rules, they carry a copy; these tests fail the moment a
copy drifts from the original.
"""

from __future__ import annotations

import random
import unicodedata

import pytest

from bot.notify import rating_buttons
from feedback import attachments, tax_codes, ticket_codes
from feedback.citizen import Identity
from nlu import normalize
from tests.bot.rasa_project import load_rasa_module

folding = load_rasa_module("components/folding.py")
action_text = load_rasa_module("actions/text.py")

SAMPLES = [
    "Phường Thủ Dầu Một",
    "ĐƯỜNG Điện Biên Phủ bị ngập",
    "Không được xử lý, vẫn y như cũ",
    "hoà bình, hòa bình, thuỷ, thủy",
    unicodedata.normalize("NFD", "Rác thải ở hẻm 45 bốc mùi"),
    "khong dau, 123 ABC, ?!",
]
# Every letter Vietnamese writes, in both cases.
ALPHABET = (
    "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụưừứửữựvxyỳýỷỹỵ"
)


@pytest.mark.parametrize("text", [*SAMPLES, ALPHABET, ALPHABET.upper()])
def test_every_copy_of_fold_folds_alike(text):
    expected = normalize.fold(text)
    assert folding.fold(text) == expected
    assert action_text.fold(text) == expected


def test_the_rasa_tokenizer_expands_abbreviations_as_the_nlu_does():
    platform = {normalize.fold(k): normalize.fold(v) for k, v in normalize.ABBREVIATIONS.items()}
    for token, word in folding.ABBREVIATIONS.items():
        assert token not in normalize.AMBIGUOUS, f"'{token}' is ambiguous: leave it alone"
        if token in platform:
            assert word == platform[token], (
                f"'{token}': Rasa reads '{word}', NLU '{platform[token]}'"
            )


def _typed_forms(code: str) -> list[str]:
    """How people type a code back: lower case, dashes, spaces, O for 0, I or L for 1."""
    body = code[len(ticket_codes.PREFIX) :]
    return [
        code,
        code.lower(),
        f"{code[:2]}-{body[:4]}-{body[4:]}",
        f"{code[:2]} {body}".lower(),
        code.replace("0", "O").replace("1", "I"),
        code.replace("1", "L"),
    ]


def test_the_actions_read_ticket_codes_as_the_platform_writes_them():
    assert action_text.CODE_ALPHABET == ticket_codes.ALPHABET
    for _ in range(200):
        code = ticket_codes.generate_ticket_code()
        for typed in _typed_forms(code):
            assert ticket_codes.normalize_ticket_code(typed) == code, typed
            assert action_text.ticket_code(f"phản ánh {typed} tới đâu rồi") == code, typed


def test_a_code_outside_the_format_is_not_read_as_one():
    assert action_text.ticket_code(ticket_codes.PREFIX + "U" * ticket_codes.LENGTH) is None  # no U
    assert action_text.ticket_code(ticket_codes.generate_ticket_code()[:-1]) is None


copies = load_rasa_module("actions/copies.py")


def test_the_actions_accept_photos_where_the_platform_keeps_them():
    assert copies.PHOTO_URL_PREFIX == attachments.URL_PREFIX


@pytest.mark.parametrize(
    "sender", ["web:Zx9_-abc", "telegram:5550001", "zalo:8470021555", "web:a:b"]
)
def test_the_actions_read_the_sender_as_the_platform_writes_it(sender):
    identity = Identity.from_sender(sender)
    assert copies.identity(sender) == (identity.channel, identity.channel_user_id)
    assert Identity(*copies.identity(sender)).sender == sender


def test_the_actions_offer_the_rating_buttons_the_notice_carries():
    assert copies.rating_buttons("PA7K3M9QXT") == rating_buttons("PA7K3M9QXT")


def test_the_actions_check_tax_codes_as_the_platform_does():
    rng = random.Random(7)
    typed = ["0314409058", "0314409058-001", "0314409058-000", "031440905", ""]
    for _ in range(3000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.choice((9, 10, 13))))
        typed += [digits, f"{digits[:10]}-{digits[10:]}"]
    assert action_text._TAX_WEIGHTS == tax_codes.WEIGHTS
    for code in typed:
        assert action_text.tax_code(code) == tax_codes.normalize_tax_code(code), code
