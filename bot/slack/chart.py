"""The drill trend as a small PNG: one bar per drill (time to capacity), oldest left, the newest highlighted.

Pure functions, standard library only (``zlib`` + ``struct``): ``bar_chart(seconds)`` returns the PNG bytes,
the same bytes for the same input. The picture carries no text; the message next to it carries the numbers.
The scale starts at 0, so bar heights compare the times directly (the text sparkline spans min..max).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

WIDTH, HEIGHT = 480, 160
MAX_POINTS = 20
MIN_SLOTS = 10  # a short history keeps narrow bars, right-aligned so the newest drill is always at the right
MARGIN = 10

# palette indexes (PNG colour type 3)
BACKGROUND, GRID, BASELINE, BAR, NEWEST = range(5)
PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 255, 255),  # background
    (226, 230, 234),  # gridlines at 50 % and 100 % of the longest time
    (96, 103, 112),  # baseline (0 s)
    (118, 146, 181),  # past drills
    (227, 119, 38),  # the newest drill
)

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type + data."""
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def encode_png(rows: Sequence[bytes], palette: Sequence[tuple[int, int, int]]) -> bytes:
    """An 8-bit indexed PNG from rows of palette indexes (all rows the same width, filter 0)."""
    height, width = len(rows), len(rows[0]) if rows else 0
    if not height or not width or any(len(row) != width for row in rows):
        raise ValueError("rows must be non-empty and of equal width")
    if not 0 < len(palette) <= 256:
        raise ValueError("a palette holds 1 to 256 colours")
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    return (
        SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"PLTE", b"".join(bytes(c) for c in palette))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def bar_heights(seconds: Sequence[float], plot_height: int) -> list[int]:
    """Bar heights in pixels on a 0-based scale; any time above 0 gets at least 1 pixel."""
    top = max(seconds, default=0.0)
    if top <= 0:
        return [0 for _ in seconds]
    return [max(1, round(s / top * plot_height)) if s > 0 else 0 for s in seconds]


def bar_spans(count: int, left: int, plot_width: int) -> list[tuple[int, int]]:
    """``(x0, x1)`` (x1 exclusive) of each bar: ``max(count, MIN_SLOTS)`` equal slots, the bars in the last
    ``count`` of them, each bar 70 % of its slot and at least 1 pixel wide."""
    slots = max(count, MIN_SLOTS)
    spans = []
    for i in range(slots - count, slots):
        start, end = left + plot_width * i // slots, left + plot_width * (i + 1) // slots
        gap = (end - start) * 15 // 100
        spans.append((start + gap, max(start + gap + 1, end - gap)))
    return spans


def bar_chart(seconds: Sequence[float], width: int = WIDTH, height: int = HEIGHT) -> bytes:
    """The PNG of up to ``MAX_POINTS`` times (oldest first; older ones are dropped), the last one highlighted."""
    if width < 2 * MARGIN + 1 or height < 2 * MARGIN + 2:
        raise ValueError(f"a chart needs at least {2 * MARGIN + 1}x{2 * MARGIN + 2} pixels")
    values = [max(0.0, float(s)) for s in seconds][-MAX_POINTS:]
    baseline = height - MARGIN - 1
    plot_height = baseline - MARGIN
    left, plot_width = MARGIN, width - 2 * MARGIN
    pixels = [bytearray([BACKGROUND]) * width for _ in range(height)]
    for y in (MARGIN, MARGIN + plot_height // 2):
        pixels[y][left : left + plot_width] = bytes([GRID]) * plot_width
    for i, ((x0, x1), tall) in enumerate(
        zip(bar_spans(len(values), left, plot_width), bar_heights(values, plot_height), strict=True)
    ):
        colour = NEWEST if i == len(values) - 1 else BAR
        for y in range(baseline - tall, baseline):
            pixels[y][x0:x1] = bytes([colour]) * (x1 - x0)
    pixels[baseline][left : left + plot_width] = bytes([BASELINE]) * plot_width
    return encode_png([bytes(row) for row in pixels], PALETTE)
