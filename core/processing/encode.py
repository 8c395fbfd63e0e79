"""Step: encode the finished pixels, one function per output format.

- JPEG: Huffman-optimised, baseline (``quality_mode = "best"``: progressive, 2–3%
  fewer bytes for twice the encode time); alpha flattened onto white (JPEG has
  no transparency); grey stays one channel.
- PNG: adaptive row filters; truecolour with zlib's run-length strategy (Z_RLE,
  ``best``: level 7), 2–5× faster than level 6–7 on photos and resampled graphics
  at the same bytes within 1% (docs/performance.md, "PNG"); a palette original stays a palette
  PNG (re-quantised after resampling, then fully optimised), which keeps icons and
  screenshots small; any other output with at most 256 colours (alpha included)
  is written as an exact palette PNG: the same pixels in a third of the bytes.
- WebP / AVIF: lossy at the transform's quality, alpha kept. AVIF uses a fast
  encoder speed, since it is by far the slowest encoder.
- GIF: palette, optimised.
"""

from __future__ import annotations

import io
import sys
from typing import Any

from PIL import Image

from core.processing.context import Context
from core.processing.metadata import save_metadata
from core.types import OutputFormat, QualityMode

#: zlib level for truecolour PNG. Level 9 (Pillow's ``optimize``) costs 3–15× the time
#: on graphics for under 1% fewer bytes; 7 is as fast as the default 6 and smaller.
PNG_LEVEL = 7
Z_RLE = 3  # zlib strategy: matches only runs (distance 1); PNG's filtered rows are mostly that
AVIF_SPEED = 9  # aom: 10–25× faster than Pillow's default 6; same size and SSIM on photos
#: With alpha (logos, icons) speed 9 makes files 3× larger than speed 8; 8 is still 4× faster than 6.
AVIF_ALPHA_SPEED = 8
WEBP_METHOD = 4
WHITE = (255, 255, 255)


def prepare(image: Image.Image, fmt: OutputFormat, palette: bool) -> Image.Image:
    """Bring the working image to a mode the encoder stores faithfully."""
    if fmt == "jpeg":
        if image.mode in ("LA", "RGBA"):
            return flatten(image, WHITE)
        return image if image.mode in ("L", "RGB") else image.convert("RGB")
    if fmt == "png" and palette and image.mode in ("RGB", "RGBA"):
        return to_palette(image)
    if fmt in ("webp", "avif") and image.mode in ("L", "LA"):
        return image.convert("RGBA" if image.mode == "LA" else "RGB")
    return image


def to_palette(image: Image.Image) -> Image.Image:
    """Back to a palette: exact when 256 colours suffice (an unscaled icon stays
    pixel-identical, fully transparent pixels share one transparent entry), else
    quantised (median cut for opaque images, fast octree with alpha)."""
    exact = _exact_palette(image)
    if exact is not None:
        return exact
    if image.mode == "RGBA":
        return image.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    return image.quantize(256, method=Image.Quantize.MEDIANCUT)


def _exact_palette(image: Image.Image) -> Image.Image | None:
    """The image as a palette image with exactly its colours, if 256 suffice (else None)."""
    if image.mode not in ("RGB", "RGBA") or image.getcolors(256) is None:
        return None
    rgb = image.convert("RGB")
    key: tuple[int, int, int] | None = None
    if image.mode == "RGBA":
        alpha = image.getchannel("A")
        if alpha.point(lambda v: 0 if v in (0, 255) else 255).getbbox() is not None:
            return _exact_rgba(image)  # partial transparency: one palette entry per RGBA colour
        used = {colour for _count, colour in rgb.getcolors(256) or []}
        key = next((c for c in _KEYS if c not in used), None)
        if key is None:
            return None
        rgb.paste(key, mask=alpha.point(lambda v: 255 - v))
    if rgb.getcolors(256) is None:
        return None
    exact = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    if key is not None:
        entries = exact.getpalette() or []
        triples = [tuple(entries[i : i + 3]) for i in range(0, len(entries), 3)]
        if key in triples:
            exact.info["transparency"] = triples.index(key)
    return exact


def _exact_rgba(image: Image.Image) -> Image.Image | None:
    """≤ 256 RGBA colours with partial alpha: each becomes a palette entry with its alpha (tRNS)."""
    colours = [colour for _count, colour in image.getcolors(256) or [] if isinstance(colour, tuple)]
    if not colours:
        return None
    lookup = {int.from_bytes(bytes(colour), sys.byteorder): i for i, colour in enumerate(colours)}
    pixels = memoryview(image.tobytes()).cast("I")  # one 32-bit word per RGBA pixel
    indexed = Image.frombytes("P", image.size, bytes(map(lookup.__getitem__, pixels)))
    indexed.putpalette([channel for colour in colours for channel in colour[:3]])
    indexed.info["transparency"] = bytes(colour[3] for colour in colours)
    return indexed


_KEYS = ((255, 0, 254), (1, 254, 3), (254, 1, 2), (3, 2, 253))


def flatten(image: Image.Image, colour: tuple[int, int, int]) -> Image.Image:
    """Lay an image with alpha over an opaque colour."""
    grey = image.mode == "LA" and colour[0] == colour[1] == colour[2]
    mode = "L" if grey else "RGB"
    canvas = Image.new(mode, image.size, colour[0] if grey else colour)
    canvas.paste(image.convert(mode), (0, 0), image.getchannel("A"))
    return canvas


def options(
    fmt: OutputFormat, quality: int, mode: str = "RGB", quality_mode: QualityMode = "fast"
) -> dict[str, Any]:
    """Encoder settings per format (and quality mode)."""
    best = quality_mode == "best"
    if fmt == "jpeg":
        return {"quality": quality, "optimize": True, "progressive": best}
    if fmt == "png":
        if mode in ("P", "1"):  # one byte per pixel: level 9 is cheap there, and unused palette entries go
            return {"optimize": True}
        return {"compress_level": PNG_LEVEL} if best else {"compress_level": 6, "compress_type": Z_RLE}
    if fmt == "webp":
        return {"quality": quality, "method": WEBP_METHOD}
    if fmt == "avif":
        alpha = mode in ("RGBA", "LA", "PA")
        return {"quality": quality, "speed": AVIF_ALPHA_SPEED if alpha else AVIF_SPEED}
    return {"optimize": True}


def encode(image: Image.Image, ctx: Context) -> bytes:
    """The output file's bytes for one (static) image."""
    image = prepare(image, ctx.output.format, ctx.source.palette)
    if ctx.output.format == "png":
        image = _exact_palette(image) or image  # lossless either way; a palette is 2-4× smaller
    out = io.BytesIO()
    image.save(
        out,
        format=ctx.output.format.upper(),
        **options(ctx.output.format, ctx.output.transform.quality, image.mode, ctx.source.quality_mode),
        **save_metadata(image, ctx),
    )
    return out.getvalue()
