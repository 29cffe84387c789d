"""Pictures for the demo tickets: a street scene drawn in a few flat shapes and written as a PNG,
so the demo needs no image library and no files of its own.

A citizen's photo shows the problem (a dark patch on the road, litter at the kerb); an
official's evidence shows the same street put right. They are illustrations, and look like it.
"""

from __future__ import annotations

import random
import struct
import zlib

WIDTH, HEIGHT = 480, 320
HORIZON = 170
Colour = tuple[int, int, int]


def _png(rows: list[bytearray]) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    raw = b"".join(b"\x00" + bytes(row) for row in rows)  # filter 0 (none) on every row
    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def _fill(rows: list[bytearray], x0: int, y0: int, x1: int, y1: int, colour: Colour) -> None:
    x0, x1 = max(0, x0), min(WIDTH, x1)
    for y in range(max(0, y0), min(HEIGHT, y1)):
        rows[y][x0 * 3 : x1 * 3] = bytes(colour) * (x1 - x0)


def _ellipse(rows: list[bytearray], cx: int, cy: int, rx: int, ry: int, colour: Colour) -> None:
    for y in range(max(0, cy - ry), min(HEIGHT, cy + ry)):
        half = int(rx * (1 - ((y - cy) / ry) ** 2) ** 0.5)
        _fill(rows, cx - half, y, cx + half, y + 1, colour)


def street_scene(seed: int, *, fixed: int) -> bytes:
    """A street under the sky with buildings; with the problem in it unless `fixed` (0 or 1)."""
    rng = random.Random(seed)
    rows = [bytearray(WIDTH * 3) for _ in range(HEIGHT)]
    for y in range(HORIZON):  # the sky, lighter towards the horizon
        shade = 150 + y * 90 // HORIZON
        _fill(rows, 0, y, WIDTH, y + 1, (shade - 60, shade - 20, min(255, shade + 30)))
    x = 0
    while x < WIDTH:  # a row of shop-houses
        width = rng.randrange(45, 90)
        top = rng.randrange(40, 120)
        wall = rng.choice([(214, 190, 150), (190, 160, 140), (230, 215, 180), (170, 180, 190)])
        _fill(rows, x, top, x + width - 4, HORIZON, wall)
        for wy in range(top + 12, HORIZON - 20, 28):
            for wx in range(x + 8, x + width - 16, 18):
                _fill(rows, wx, wy, wx + 10, wy + 14, (90, 110, 130))
        x += width
    _fill(rows, 0, HORIZON, WIDTH, HORIZON + 14, (185, 185, 180))  # the pavement
    _fill(rows, 0, HORIZON + 14, WIDTH, HEIGHT, (95, 97, 100))  # the road
    for dash in range(10, WIDTH, 70):
        _fill(rows, dash, 245, dash + 38, 251, (235, 235, 225))
    _fill(rows, 396, 60, 402, HORIZON + 8, (60, 60, 60))  # a street light
    _fill(rows, 370, 56, 402, 62, (60, 60, 60))
    lamp = (255, 214, 90) if fixed else (120, 120, 110)
    _ellipse(rows, 372, 66, 10, 7, lamp)
    if fixed:
        _fill(rows, 120, 262, 260, 300, (70, 72, 75))  # fresh asphalt where the hole was
        _ellipse(rows, 60, HORIZON - 30, 34, 40, (60, 140, 70))  # a tidy tree
        _fill(rows, 57, HORIZON - 10, 63, HORIZON + 6, (100, 70, 40))
    else:
        _ellipse(rows, 190, 282, 70, 16, (45, 45, 48))  # a pothole
        _ellipse(rows, 190, 280, 58, 11, (70, 90, 110))  # with standing water
        for _ in range(7):  # litter at the kerb
            cx = rng.randrange(20, 160)
            _ellipse(rows, cx, HORIZON + 10, rng.randrange(8, 16), 7, (110, 95, 70))
    return _png(rows)
