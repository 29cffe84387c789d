"""Photos are kept as pictures only: decoded and written again before they are stored."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from core.errors import AppError
from feedback.attachments import MAX_PIXELS, clean_photo
from tests.images import same_picture, tiny_png

LIMIT = 5_000_000


def _jpeg_with_gps() -> bytes:
    """A phone photo: a JPEG whose EXIF holds where it was taken."""
    image = Image.new("RGB", (8, 8), (200, 30, 30))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (10.0, 46.0, 20.0), 3: "E", 4: (106.0, 41.0, 54.0)}  # GPSInfo
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_a_phones_gps_position_does_not_survive(tmp_path):
    sent = _jpeg_with_gps()
    with Image.open(io.BytesIO(sent)) as original:
        assert original.getexif().get(0x8825)  # the position is there when sent

    kept, kind = clean_photo(sent, limit=LIMIT)

    assert kind == "jpg"
    with Image.open(io.BytesIO(kept)) as stored:
        assert not stored.getexif()
        assert stored.size == (8, 8)


def test_whatever_hides_after_the_picture_is_dropped():
    polyglot = tiny_png() + b"<html><script>alert(1)</script></html>" + b"PK\x03\x04zip"
    kept, kind = clean_photo(polyglot, limit=LIMIT)
    assert kind == "png"
    assert b"<script>" not in kept and b"PK\x03\x04" not in kept
    assert same_picture(kept, tiny_png())


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"\xff\xd8\xff" + b"not really a jpeg" * 10, 415),  # starts like one, is not
        (b"GIF89a" + b"\x00" * 20, 415),
        (tiny_png() + b"\x00" * LIMIT, 413),
    ],
    ids=["fake-jpeg", "gif", "too-large"],
)
def test_what_is_not_a_photo_is_refused_with_its_reason(data, status):
    with pytest.raises(AppError) as refused:
        clean_photo(data, limit=LIMIT)
    assert refused.value.status_code == status


def test_a_decompression_bomb_is_refused_before_it_is_decoded():
    side = int(MAX_PIXELS**0.5) + 10
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, format="PNG")  # a few kilobytes, 60+ megapixels
    assert len(out.getvalue()) < LIMIT
    with pytest.raises(AppError) as refused:
        clean_photo(out.getvalue(), limit=LIMIT)
    assert refused.value.status_code == 415
