"""Images for the tests that upload photos, and the evidence a resolution needs."""

from __future__ import annotations

from functools import cache


def tiny_png() -> bytes:
    """A real 1x1 PNG, built by hand (no imaging library needed)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xb7\x1c\x1c")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@cache
def evidence_url() -> str:
    """A photo stored as a resolution's evidence would be (in the run's var folder)."""
    from feedback import attachments

    return attachments.save(tiny_png(), "png")


def resolve_body(message: str = "Đã xử lý xong.") -> dict[str, object]:
    """A valid `resolve` body: the public answer and one piece of evidence."""
    return {"message": message, "attachments": [evidence_url()]}


def same_picture(stored: bytes, sent: bytes) -> bool:
    """The platform keeps photos written again (no EXIF, nothing hidden): the bytes differ,
    the picture does not."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(stored)) as kept, Image.open(io.BytesIO(sent)) as original:
        return (
            kept.size == original.size
            and kept.convert("RGB").tobytes() == original.convert("RGB").tobytes()
        )
