"""Animated GIF writer: streamed, only what changed, one palette wherever it fits.

Frames arrive one at a time (``animation.frames``) and only a few canvases are
kept: what the viewer currently shows (colours and opacity), and the previous
frame, held back until the next one says how it must be disposed. Per frame:

- pixels equal to what is already shown become the transparent index, and the
  frame is cut to the box of what changed (GIF's frame-difference optimisation:
  long transparent runs compress to almost nothing);
- a frame with no change lengthens the previous frame's delay instead;
- a frame that turns shown pixels transparent makes the previous frame
  "restore to background" over a box covering them, and repaints what stays;
- colours: the first frame's palette becomes the global colour table; a later
  frame maps onto it, or onto the last local palette, while that stays close
  (``MAX_GLOBAL_ERROR``, ``REUSE_ERROR``), else it gets a local table of its
  own. Each frame is quantised once, without dithering: dither noise defeats
  both the difference test and LZW.

A palette is exact for a frame of at most 255 colours, else median cut: on
graphics after rounding colours to ``LEVELS`` levels per channel (fewer
near-equal shades in gradients, so longer LZW strings; the dominant flat
colours are put back exactly), on photo-like frames with k-means passes
instead. ``benchmarks/bench_animation.py`` measured these choices against
sharp (libimagequant) in bytes and SSIM (docs/rendering.md, "Animation").

The LZW coding itself is Pillow's: each frame is saved as a one-frame GIF and
its image data block copied out.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageStat

from core.errors import ImageRefused
from core.processing.context import Context

LEVELS = 26
#: RMS error (per channel, 0–255) up to which a frame uses an existing palette …
MAX_GLOBAL_ERROR = 4.0
#: … or up to this factor of that palette's error on the frame it was made for.
REUSE_ERROR = 1.05
PALETTE_SAMPLE = 256 * 256  # pixels a palette is computed from, at most
#: A frame with more distinct colours than this share of its pixels is photo-like: there
#: rounding saves no bytes and costs quality, and k-means refinement (on a smaller
#: sample, it is slow) brings the palette much closer to the picture.
PHOTO_COLOURS = 0.25
PHOTO_KMEANS = 2
PHOTO_SAMPLE = 160 * 160
_ROUND = [round(round(v * (LEVELS - 1) / 255) * 255 / (LEVELS - 1)) for v in range(256)] * 3
_NONZERO = [0] + [255] * 255
_OPAQUE = [0] * 128 + [255] * 128
_INVERT = [255 - v for v in range(256)]
_DISPOSE_NONE, _DISPOSE_BACKGROUND = 1, 2


@dataclass(slots=True)
class _Frame:
    """A frame ready to write, held until the next frame decides its disposal."""

    indices: Image.Image  # palette indices of the frame's box
    box: tuple[int, int, int, int]
    table: bytes | None  # a local colour table, or None for the global one
    transparent: int | None  # index of "unchanged / transparent", if the frame uses it
    duration: int  # ms
    disposal: int = _DISPOSE_NONE

    def expand(self, box: tuple[int, int, int, int]) -> None:
        """Grow the frame's box to cover ``box`` (new pixels are transparent)."""
        x0, y0, x1, y1 = self.box
        grown = (min(x0, box[0]), min(y0, box[1]), max(x1, box[2]), max(y1, box[3]))
        if grown == self.box:
            return
        assert self.transparent is not None
        canvas = Image.new("P", (grown[2] - grown[0], grown[3] - grown[1]), self.transparent)
        canvas.paste(self.indices, (x0 - grown[0], y0 - grown[1]))
        self.indices, self.box = canvas, grown


def write(
    frames: Iterable[tuple[Image.Image, int]], ctx: Context, plays: int, max_bytes: int
) -> tuple[bytes, int]:
    """The animated GIF of ``frames`` ((image, ms) pairs); returns the bytes and frames written."""
    writer = GifWriter(ctx.output.plan.output, plays, max_bytes)
    for frame, duration in frames:
        writer.add(frame, duration)
    return writer.close()


class GifWriter:
    """Streams frames into one GIF; see the module docstring."""

    def __init__(self, size: tuple[int, int], plays: int, max_bytes: int) -> None:
        self.size = size
        self.plays = plays
        self.max_bytes = max_bytes
        self.body = io.BytesIO()  # everything after the header (known once frame 0 is quantised)
        self.header = b""
        self.palette: Image.Image | None = None  # the global palette, as a P image
        self.global_transparent = 0
        self.palette_error = 0.0  # its RMS error on the frame it was made for
        self.local: tuple[Image.Image, float, bytes, int] | None = None  # the last local palette
        self.shown: Image.Image | None = None  # RGB of what is on screen (where opaque)
        self.opaque: Image.Image | None = None  # L: 255 where the screen is opaque
        self.pending: _Frame | None = None
        self.written = 0
        self.elapsed_ms = 0
        self.elapsed_cs = 0

    def add(self, frame: Image.Image, duration: int) -> None:
        """Add the next full frame (any working mode, the output's size)."""
        rgb, alpha = _split(frame)
        if rgb.size != self.size:
            rgb = rgb.resize(self.size)
            alpha = alpha.resize(self.size) if alpha is not None else None
        if self.shown is None or self.opaque is None:
            self._first(rgb, alpha, duration)
            return
        cleared = None
        if alpha is not None and self.pending is not None:
            cleared = ImageChops.subtract(self.opaque, alpha).getbbox()
            if cleared is not None:  # shown pixels turn transparent: dispose the previous frame
                if self.pending.transparent is None:  # only the first frame can lack one
                    self.pending.transparent = self.global_transparent
                self.pending.expand(cleared)
                self.pending.disposal = _DISPOSE_BACKGROUND
                self.opaque.paste(0, self.pending.box)
        changed = _changed(rgb, self.shown, self.opaque, alpha)
        box = changed.getbbox()
        if box is None and cleared is None:
            if self.pending is not None:
                self.pending.duration += duration
            return
        box = box or (0, 0, 1, 1)  # nothing to paint after the clearing: a transparent pixel
        region, mask = rgb.crop(box), changed.crop(box)
        indices, table, transparent = self._quantise(region, mask)
        indices.paste(transparent, mask=mask.point(_INVERT))
        self.shown.paste(region, box[:2], mask)
        self.opaque.paste(255, box, mask)
        self._flush()
        self.pending = _Frame(indices, box, table, transparent, duration)

    def close(self) -> tuple[bytes, int]:
        """Write the last frame and the trailer; returns the file's bytes and the frame count."""
        self._flush()
        if self.written > 1 and self.plays != 1:
            loop = 0 if self.plays == 0 else min(self.plays - 1, 0xFFFF)
            self.header += b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", loop) + b"\x00"
        self.body.write(b";")
        return self.header + self.body.getvalue(), self.written

    # ------------------------------------------------------------------ internals

    def _first(self, rgb: Image.Image, alpha: Image.Image | None, duration: int) -> None:
        palette = _palette(rgb if alpha is None else _black_where_transparent(rgb, alpha))
        self.palette = palette
        colours = len(palette.getpalette() or []) // 3
        self.global_transparent = colours  # one past the colours: the table always has room
        table = _table(palette)
        width, height = self.size
        self.header = (
            b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF0 | _table_bits(table), 0, 0) + table
        )
        indices = _map(rgb, palette)
        self.palette_error = _error(rgb, indices, alpha)
        transparent = None
        if alpha is not None:
            transparent = self.global_transparent
            indices.paste(transparent, mask=alpha.point(_INVERT))
        self.shown = rgb.copy()
        self.opaque = alpha.copy() if alpha is not None else Image.new("L", self.size, 255)
        self.pending = _Frame(indices, (0, 0, width, height), None, transparent, duration)

    def _quantise(self, region: Image.Image, mask: Image.Image) -> tuple[Image.Image, bytes | None, int]:
        """Indices of ``region`` on the global palette, or the last local one, or a new local one.

        A palette is reused while its error on the region stays within ``REUSE_ERROR``
        of the error it had on the frame it was made for (or below ``MAX_GLOBAL_ERROR``):
        a photo-like clip keeps one palette per scene, not one per frame.
        """
        assert self.palette is not None
        candidates: list[tuple[Image.Image, float, bytes | None, int]] = [
            (self.palette, self.palette_error, None, self.global_transparent)
        ]
        if self.local is not None:
            candidates.append(self.local)
        for palette, own_error, table, transparent in candidates:
            indices = _map(region, palette)
            if _error(region, indices, mask) <= max(MAX_GLOBAL_ERROR, own_error * REUSE_ERROR):
                return indices, table, transparent
        palette = _palette(_black_where_transparent(region, mask))
        indices = _map(region, palette)
        self.local = (
            palette,
            _error(region, indices, mask),
            _table(palette),
            len(palette.getpalette() or []) // 3,
        )
        return indices, self.local[2], self.local[3]

    def _flush(self) -> None:
        frame, self.pending = self.pending, None
        if frame is None:
            return
        self.elapsed_ms += frame.duration
        delay = min(0xFFFF, round(self.elapsed_ms / 10) - self.elapsed_cs)
        self.elapsed_cs += delay
        flags = frame.disposal << 2 | (1 if frame.transparent is not None else 0)
        x0, y0, x1, y1 = frame.box
        local = 0x80 | _table_bits(frame.table) if frame.table else 0
        self.body.write(
            b"!\xf9\x04" + struct.pack("<BHBB", flags, delay, frame.transparent or 0, 0)
            + b"," + struct.pack("<HHHHB", x0, y0, x1 - x0, y1 - y0, local)
            + (frame.table or b"")
            + _lzw(frame.indices)
        )  # fmt: skip
        self.written += 1
        if self.body.tell() > self.max_bytes:
            raise ImageRefused(
                f"the animated GIF would exceed {self.max_bytes:,} bytes (max_animation_memory)"
            )


def _split(frame: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """RGB and a 0/255 opacity mask (None when fully opaque); GIF has 1-bit transparency."""
    if frame.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = frame.convert("RGBA")
        alpha = rgba.getchannel("A").point(_OPAQUE)
        if alpha.getextrema() == (255, 255):
            return rgba.convert("RGB"), None
        return rgba.convert("RGB"), alpha
    return frame if frame.mode == "RGB" else frame.convert("RGB"), None


def _changed(
    rgb: Image.Image, shown: Image.Image, opaque: Image.Image, alpha: Image.Image | None
) -> Image.Image:
    """L mask: 255 where this frame must paint (a different colour, or over a transparent screen)."""
    differs = ImageChops.difference(rgb, shown).point(_NONZERO * 3).convert("L").point(_NONZERO)
    changed = ImageChops.lighter(differs, opaque.point(_INVERT))
    return ImageChops.multiply(changed, alpha) if alpha is not None else changed


def _error(rgb: Image.Image, indices: Image.Image, mask: Image.Image | None) -> float:
    """Largest per-channel RMS difference between ``rgb`` and its palette version (where ``mask``)."""
    return max(ImageStat.Stat(ImageChops.difference(rgb, indices.convert("RGB")), mask).rms)


def _black_where_transparent(rgb: Image.Image, mask: Image.Image) -> Image.Image:
    """Transparent pixels' colours say nothing; make them one colour so the palette ignores them."""
    out = Image.new("RGB", rgb.size)
    out.paste(rgb, mask=mask)
    return out


def _palette(rgb: Image.Image) -> Image.Image:
    """At most 255 colours for ``rgb`` (index 255 stays free for transparency), as a P image."""
    sample = rgb
    if rgb.width * rgb.height > PALETTE_SAMPLE:
        factor = (rgb.width * rgb.height / PALETTE_SAMPLE) ** 0.5
        sample = rgb.resize((max(1, int(rgb.width / factor)), max(1, int(rgb.height / factor))))
    exact = sample.getcolors(255)
    palette = Image.new("P", (1, 1))
    if exact is not None:  # few colours (graphics, unscaled GIF frames): kept exactly
        palette.putpalette([v for _count, colour in exact for v in _triple(colour)])
        return palette
    pixels = sample.width * sample.height
    if sample.getcolors(int(pixels * PHOTO_COLOURS)) is None:  # photo-like: every pixel its own colour
        if pixels > PHOTO_SAMPLE:
            factor = (pixels / PHOTO_SAMPLE) ** 0.5
            sample = sample.resize((max(1, int(sample.width / factor)), max(1, int(sample.height / factor))))
        quantised = sample.quantize(255, method=Image.Quantize.MEDIANCUT, kmeans=PHOTO_KMEANS)
    else:
        quantised = sample.point(_ROUND).quantize(255, method=Image.Quantize.MEDIANCUT)
    indices = [index for _count, index in quantised.getcolors(256) or [] if isinstance(index, int)]
    entries = (quantised.getpalette() or [0, 0, 0])[: 3 * (max(indices, default=0) + 1)]
    palette.putpalette(entries)
    # Flat areas (backgrounds, fills) keep their exact colour, not its rounded neighbour.
    thumb = (
        sample.resize((64, 64), Image.Resampling.NEAREST) if sample.width * sample.height > 4096 else sample
    )
    area = thumb.width * thumb.height
    dominant = [_triple(c) for n, c in thumb.getcolors(4096) or [] if n * 50 >= area]
    if dominant:
        row = Image.new("RGB", (len(dominant), 1))
        row.putdata(dominant)
        for colour, index in zip(dominant, _map(row, palette).tobytes(), strict=True):
            entries[3 * index : 3 * index + 3] = colour
        palette.putpalette(entries)
    return palette


def _triple(colour: object) -> tuple[int, int, int]:
    assert isinstance(colour, tuple)
    return colour[0], colour[1], colour[2]


def _map(rgb: Image.Image, palette: Image.Image) -> Image.Image:
    """Each pixel to its nearest palette colour (no dithering)."""
    return rgb.quantize(palette=palette, dither=Image.Dither.NONE)


def _table(palette: Image.Image) -> bytes:
    """A GIF colour table for the palette plus one transparent entry, padded to a power of two."""
    entries = bytes(palette.getpalette() or []) + b"\x00\x00\x00"
    size = 2 << _bits(len(entries) // 3)
    return entries + b"\x00" * (3 * size - len(entries))


def _bits(colours: int) -> int:
    """The colour-table size field for ``colours`` entries (a table has 2 ** (field + 1))."""
    return max(0, (colours - 1).bit_length() - 1)


def _table_bits(table: bytes | None) -> int:
    return _bits(len(table or b"") // 3)


def _lzw(indices: Image.Image) -> bytes:
    """The LZW image data (code size byte, sub-blocks, terminator) Pillow writes for ``indices``."""
    out = io.BytesIO()
    indices.save(out, "GIF", optimize=False, interlace=False)
    data = out.getbuffer()
    pos = 13 + ((3 << ((data[10] & 7) + 1)) if data[10] & 0x80 else 0)
    while data[pos] == 0x21:  # extensions before the image
        pos += 2
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    flags = data[pos + 9]
    start = pos = pos + 10 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
    pos += 1
    while data[pos]:
        pos += data[pos] + 1
    return bytes(data[start : pos + 1])
