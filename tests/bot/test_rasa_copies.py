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
from feedback import language as citizen_language
from feedback.citizen import Identity
from nlu import language, normalize
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


rasa_language = load_rasa_module("actions/language.py")

LANGUAGE_SAMPLES = [
    # English, as the firms in the industrial parks write it
    "Hello",
    "Hi",
    "The street light near VSIP 1 gate is broken",
    "Our factory in VSIP 1 has had no power since Monday",
    "please help, the road to our company is flooded",
    "Thank you very much for your help",
    "yes",
    "no",
    "No photo",
    "I want to talk to a person",
    "What is the status of PA7K3M9QXT?",
    "Water supply cut 2 days at our warehouse, please check",
    "Dear Sir, the drain near gate 3 is blocked",
    "5 stars",
    "Very satisfied",
    "It is still not fixed",
    # Vietnamese, with or without diacritics, teen-code
    "Đèn đường trước số 12 Yersin tắt cả tuần nay",
    "den duong truoc so 12 yersin tat ca tuan nay",
    "cong ty chung toi o KCN VSIP bi mat dien lien tuc",
    "ko co anh",
    "bỏ qua",
    "không",
    "đồng ý",
    "xin chao, cho hoi thu tuc lam lai can cuoc",
    "gặp cán bộ",
    # Neither: a number, a code, a word of no list, a button's payload, nothing
    "0912 345 678",
    "PA7K3M9QXT",
    "ok",
    "skip",
    "Good morning",
    '/rate{"ticket_code": "PA7K3M9QXT", "score": 5}',
    "",
    "   ",
    "?!",
    # Mixed, and letters from elsewhere
    "KCN VSIP the company is here",
    "hello ad ơi",
    "Müller GmbH in the park",
    "the khong",
    "Café near the gate",
]


def test_the_rasa_copy_of_the_language_rule_keeps_the_platforms_word_lists():
    assert rasa_language.ENGLISH_WORDS == language.ENGLISH_WORDS
    assert rasa_language.VIETNAMESE_SYLLABLES == language.VIETNAMESE_SYLLABLES


def _random_messages(count: int) -> list[str]:
    """Messages drawn from both word lists, numbers and Vietnamese letters."""
    rng = random.Random(11)
    english, vietnamese = sorted(language.ENGLISH_WORDS), sorted(language.VIETNAMESE_SYLLABLES)
    pool = [*english, *vietnamese, "VSIP", "0912345678", "PA7K3M9QXT", "ơi", "được", "xyz"]
    return [" ".join(rng.choice(pool) for _ in range(rng.randint(1, 8))) for _ in range(count)]


@pytest.mark.parametrize("text", [*LANGUAGE_SAMPLES, *_random_messages(400)])
def test_the_rasa_copy_reads_the_language_as_the_platform_does(text):
    assert rasa_language.detect_language(text) == language.detect_language(text)
    assert rasa_language.language_shown(text) == citizen_language.language_shown(text)
    shown = citizen_language.language_shown(text)
    assert shown in (None, language.detect_language(text))


def test_the_actions_offer_the_rating_buttons_the_notice_carries_in_english():
    assert copies.rating_buttons("PA7K3M9QXT", "en") == rating_buttons("PA7K3M9QXT", "en")


tokenizer_language = load_rasa_module("components/language.py")


def test_the_tokenizers_copy_of_the_language_rule_is_the_platforms():
    assert tokenizer_language.ENGLISH_WORDS == language.ENGLISH_WORDS
    assert tokenizer_language.VIETNAMESE_SYLLABLES == language.VIETNAMESE_SYLLABLES
    for text in [*LANGUAGE_SAMPLES, *_random_messages(400)]:
        assert tokenizer_language.detect_language(text) == language.detect_language(text), text
