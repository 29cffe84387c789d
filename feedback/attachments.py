"""Files attached to tickets: photos people send in a chat (web, Telegram, Zalo), kept under
var/ and served back by bot/webchat_api.py at URL_PREFIX.

A photo is accepted only when its bytes are a JPEG, PNG or WebP image, whatever the sender says
its type is. It is stored under a random name, which is also its address, so a photo is seen
only by whoever has been given its link (the citizen, and staff through the ticket). The Rasa
actions keep a copy of URL_PREFIX (tests/bot/test_rasa_copies.py pins it).
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from core.errors import AppError
from core.settings import get_settings

URL_PREFIX = "/api/v1/webchat/photos/"
_NAME = re.compile(r"^[A-Za-z0-9_-]{32}\.(jpg|png|webp)$")
MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def image_kind(data: bytes) -> str | None:
    """The file extension of a JPEG, PNG or WebP image, read from its first bytes."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _directory() -> Path:
    return get_settings().var_dir / "uploads" / "photos"


def save(data: bytes, kind: str) -> str:
    """Store the photo and return its URL."""
    directory = _directory()
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_urlsafe(24)}.{kind}"
    partial = directory / f".{name}.part"
    partial.write_bytes(data)
    partial.rename(directory / name)  # never a half-written photo under its real name
    return URL_PREFIX + name


def is_photo_url(url: str) -> bool:
    """Whether `url` is a photo stored here (its name, not just the prefix, is checked)."""
    return url.startswith(URL_PREFIX) and bool(_NAME.match(url[len(URL_PREFIX) :]))


def path_of(name: str) -> Path | None:
    """The stored photo with this name, or None for any other name."""
    if not _NAME.match(name):
        return None
    path = _directory() / name
    return path if path.is_file() else None


NOT_AN_IMAGE = "Tệp này không phải ảnh. Bạn vui lòng gửi ảnh JPEG, PNG hoặc WebP."
TOO_LARGE = "Ảnh lớn quá {limit} MB. Bạn vui lòng gửi ảnh nhỏ hơn."


def check_photo(data: bytes, *, limit: int) -> str:
    """The kind of an acceptable photo; the polite refusal (413, 415) of any other file."""
    if len(data) > limit:
        raise AppError(TOO_LARGE.format(limit=limit // 1_000_000), status_code=413)
    kind = image_kind(data[:16])
    if kind is None:
        raise AppError(NOT_AN_IMAGE, status_code=415)
    return kind
