"""Files attached to tickets: photos people send in a chat (web, Telegram, Zalo), kept under
var/ and served back by bot/webchat_api.py at URL_PREFIX; and the evidence staff attach when
they resolve a ticket: photos (stored and served as above) or PDF documents, served by
feedback/api.py at DOCUMENT_URL_PREFIX.

A photo is accepted only when its bytes are a JPEG, PNG or WebP image, whatever the sender says
its type is. It is stored under a random name, which is also its address, so a photo is seen
only by whoever has been given its link (the citizen, and staff through the ticket). The Rasa
actions keep a copy of URL_PREFIX (tests/bot/test_rasa_copies.py pins it).
"""

from __future__ import annotations

import errno
import io
import logging
import re
import secrets
from pathlib import Path

from PIL import Image, ImageOps

from core.errors import AppError, Invalid
from core.settings import get_settings

logger = logging.getLogger(__name__)

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


def photo_directory() -> Path:
    """Where the photos are stored (bot/retention.py purges the old ones no ticket holds)."""
    return get_settings().var_dir / "uploads" / "photos"


DOCUMENT_URL_PREFIX = "/api/v1/documents/"
_DOCUMENT_NAME = re.compile(r"^[A-Za-z0-9_-]{32}\.pdf$")
DOCUMENT_MEDIA_TYPES = {"pdf": "application/pdf"}


def document_kind(data: bytes) -> str | None:
    """The extension of a PDF, read from its first bytes (whatever the sender called it)."""
    return "pdf" if data.startswith(b"%PDF-") else None


def _documents() -> Path:
    return get_settings().var_dir / "uploads" / "documents"


def save_document(data: bytes, kind: str) -> str:
    """Store an evidence document and return its URL."""
    return DOCUMENT_URL_PREFIX + _store(_documents(), data, kind)


def is_document_url(url: str) -> bool:
    return url.startswith(DOCUMENT_URL_PREFIX) and bool(
        _DOCUMENT_NAME.match(url[len(DOCUMENT_URL_PREFIX) :])
    )


def document_path(name: str) -> Path | None:
    """The stored document with this name, or None for any other name."""
    if not _DOCUMENT_NAME.match(name):
        return None
    path = _documents() / name
    return path if path.is_file() else None


def stored_file_exists(url: str) -> bool:
    """Whether `url` names a photo or a document stored here, and the file is there."""
    if is_photo_url(url):
        return path_of(url[len(URL_PREFIX) :]) is not None
    if is_document_url(url):
        return document_path(url[len(DOCUMENT_URL_PREFIX) :]) is not None
    return False


def save_evidence(data: bytes) -> str:
    """Store a photo or a PDF sent as evidence and return its URL; Invalid for anything else."""
    settings = get_settings()
    if image_kind(data[:16]) is not None:
        if len(data) > settings.max_photo_bytes:
            raise Invalid(f"Ảnh lớn quá {settings.max_photo_bytes // 1_000_000} MB.")
        try:
            cleaned, photo_kind = clean_photo(data, limit=settings.max_photo_bytes)
        except AppError as exc:
            raise Invalid(exc.message, status_code=exc.status_code) from exc
        return save(cleaned, photo_kind)
    if (document := document_kind(data[:16])) is not None:
        if len(data) > settings.max_document_bytes:
            raise Invalid(f"Tệp lớn quá {settings.max_document_bytes // 1_000_000} MB.")
        return save_document(data, document)
    raise Invalid(
        "Tệp minh chứng phải là ảnh (JPEG, PNG, WebP) hoặc tài liệu PDF.", status_code=415
    )


def save(data: bytes, kind: str) -> str:
    """Store the photo and return its URL."""
    return URL_PREFIX + _store(photo_directory(), data, kind)


# The disk (or the quota, or the file-size limit) has no room: the person is told to try later.
_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
STORAGE_FULL = (
    "Hệ thống tạm thời chưa lưu được tệp vì bộ nhớ lưu trữ đã đầy. Bạn vui lòng thử lại sau, "
    "hoặc mô tả sự việc bằng chữ."
)


def _store(directory: Path, data: bytes, kind: str) -> str:
    """Write the file under a random name, which is also its address; return the name. A full
    disk is a 507 with a reason, and leaves nothing behind."""
    name = f"{secrets.token_urlsafe(24)}.{kind}"
    partial = directory / f".{name}.part"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(data)
        partial.rename(directory / name)  # never a half-written file under its real name
    except OSError as exc:
        partial.unlink(missing_ok=True)
        if exc.errno in _NO_ROOM:
            logger.error("no room to store a file in %s: %s", directory, exc)
            raise AppError(STORAGE_FULL, status_code=507) from exc
        raise
    return name


def is_photo_url(url: str) -> bool:
    """Whether `url` is a photo stored here (its name, not just the prefix, is checked)."""
    return url.startswith(URL_PREFIX) and bool(_NAME.match(url[len(URL_PREFIX) :]))


def path_of(name: str) -> Path | None:
    """The stored photo with this name, or None for any other name."""
    if not _NAME.match(name):
        return None
    path = photo_directory() / name
    return path if path.is_file() else None


NOT_AN_IMAGE = "Tệp này không phải ảnh. Bạn vui lòng gửi ảnh JPEG, PNG hoặc WebP."
TOO_LARGE = "Ảnh lớn quá {limit} MB. Bạn vui lòng gửi ảnh nhỏ hơn."


# A photo larger than this many pixels is refused before it is decoded (a "decompression
# bomb": a few kilobytes that unpack to gigabytes). A 50-megapixel camera stays under it.
MAX_PIXELS = 60_000_000
_PILLOW_FORMAT = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


def clean_photo(data: bytes, *, limit: int) -> tuple[bytes, str]:
    """An acceptable photo, decoded and written again, and its kind; the polite refusal (413,
    415) of any other file.

    Writing it again keeps the picture only: no EXIF (a phone's GPS position of the citizen's
    home), no other file hidden after the image data (a polyglot), nothing a browser could
    read as anything but an image.
    """
    if len(data) > limit:
        raise AppError(TOO_LARGE.format(limit=limit // 1_000_000), status_code=413)
    kind = image_kind(data[:16])
    if kind is None:
        raise AppError(NOT_AN_IMAGE, status_code=415)
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise AppError(NOT_AN_IMAGE, status_code=415)
            image.load()
            picture = ImageOps.exif_transpose(image)  # keep the orientation the EXIF gave
            if kind == "jpg" and picture.mode not in ("RGB", "L"):
                picture = picture.convert("RGB")
            out = io.BytesIO()
            picture.save(out, format=_PILLOW_FORMAT[kind], **_SAVE_OPTIONS[kind])
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise AppError(NOT_AN_IMAGE, status_code=415) from exc
    return out.getvalue(), kind


_SAVE_OPTIONS: dict[str, dict[str, object]] = {
    "jpg": {"quality": 88, "optimize": True},
    "png": {"optimize": True},
    "webp": {"quality": 88},
}
