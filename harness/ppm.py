"""Turns QEMU's screendump into a PNG that any browser or CI page shows.

QMP's `screendump` writes PPM by default. QEMU 7.2 can write PNG itself, but
swaps red and blue when it does (QEMU issue 1622), so the harness takes the
PPM and encodes the PNG here, with zlib and struct only.
"""

from __future__ import annotations

import struct
import zlib


def ppm_to_png(ppm: bytes) -> bytes:
    width, height, pixels = _read_ppm(ppm)
    # Each row of a PNG starts with its filter type; 0 means unfiltered.
    row_size = width * 3
    raw = b"".join(b"\0" + pixels[y * row_size:(y + 1) * row_size] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b""))


def _read_ppm(ppm: bytes) -> tuple[int, int, bytes]:
    """A binary PPM (P6): the magic, width, height and maximum value as
    text separated by white space, one more white space byte, then RGB."""
    fields, position = [], 0
    while len(fields) < 4:
        while ppm[position:position + 1].isspace():
            position += 1
        start = position
        while not ppm[position:position + 1].isspace():
            position += 1
        fields.append(ppm[start:position])
    if fields[0] != b"P6" or fields[3] != b"255":
        raise ValueError("not an 8-bit binary PPM")
    width, height = int(fields[1]), int(fields[2])
    pixels = ppm[position + 1:position + 1 + width * height * 3]
    return width, height, pixels


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
