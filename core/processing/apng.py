"""Animated PNG writer, streamed: each frame is encoded as it arrives and dropped.

Every frame is RGBA (an animation's frames share one colour type). The first
frame is the default image and part of the animation; each later one is cut to
the box that differs from the previous frame and replaces that box
(``blend_op`` source, ``dispose_op`` none), and a frame identical to the
previous one lengthens its delay instead. The pixels are compressed by Pillow's
PNG encoder (one PNG per frame, whose IDAT data becomes the frame's data); the
colour profile chunk is copied from the first frame's.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image, ImageChops

from core.errors import ImageRefused
from core.processing.context import Context
from core.processing.encode import PNG_LEVEL
from core.processing.metadata import save_metadata

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_KEPT_BEFORE_IDAT = frozenset({b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"eXIf", b"pHYs"})


@dataclass(slots=True)
class _Frame:
    data: bytes  # the frame's compressed pixels (concatenated IDAT data)
    box: tuple[int, int, int, int]
    duration: int  # ms


def write(
    frames: Iterable[tuple[Image.Image, int]], ctx: Context, plays: int, max_bytes: int
) -> tuple[bytes, int]:
    """The APNG of ``frames`` ((image, ms) pairs); returns the bytes and the frames written."""
    header: list[bytes] = []
    body = io.BytesIO()
    previous: Image.Image | None = None
    pending: _Frame | None = None
    written = 0
    sequence = 0

    def flush() -> None:
        nonlocal written, sequence
        if pending is None:
            return
        x0, y0, x1, y1 = pending.box
        delay = min(pending.duration, 0xFFFF)
        body.write(
            _chunk(b"fcTL", struct.pack(">IIIIIHHBB", sequence, x1 - x0, y1 - y0, x0, y0, delay, 1000, 0, 0))
        )
        sequence += 1
        if written == 0:
            body.write(_chunk(b"IDAT", pending.data))
        else:
            body.write(_chunk(b"fdAT", struct.pack(">I", sequence) + pending.data))
            sequence += 1
        written += 1
        if body.tell() > max_bytes:
            raise ImageRefused(f"the animated PNG would exceed {max_bytes:,} bytes (max_animation_memory)")

    for frame, duration in frames:
        rgba = frame.convert("RGBA") if frame.mode != "RGBA" else frame
        if previous is None:
            chunks = _encode(rgba, save_metadata(rgba, ctx))
            header = [c for c in chunks if c[4:8] in (b"IHDR", *_KEPT_BEFORE_IDAT)]
            pending = _Frame(_idat(chunks), (0, 0, *rgba.size), duration)
            previous = rgba.copy()
            continue
        box = ImageChops.difference(rgba, previous).getbbox(alpha_only=False)
        if box is None:
            assert pending is not None
            pending.duration += duration
            continue
        flush()
        pending = _Frame(_idat(_encode(rgba.crop(box), {})), box, duration)
        previous = rgba.copy()
    flush()
    actl = _chunk(b"acTL", struct.pack(">II", written, plays))
    return _SIGNATURE + header[0] + actl + b"".join(header[1:]) + body.getvalue() + _chunk(
        b"IEND", b""
    ), written


def _encode(image: Image.Image, metadata: dict[str, object]) -> list[bytes]:
    """The chunks (each with length, type and CRC) of ``image`` as a one-frame PNG."""
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=PNG_LEVEL, **metadata)
    data = out.getbuffer()
    chunks, pos = [], len(_SIGNATURE)
    while pos + 8 <= len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        chunks.append(bytes(data[pos : pos + 12 + length]))
        pos += 12 + length
    return chunks


def _idat(chunks: list[bytes]) -> bytes:
    return b"".join(c[8:-4] for c in chunks if c[4:8] == b"IDAT")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
