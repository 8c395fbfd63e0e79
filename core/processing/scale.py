"""Step: cut the planned box out of the decoded image and resample it to size.

The box is in upright source pixels; ``Source.scale`` and ``Source.offset`` map it
onto the decoded pixels (a DCT-scaled JPEG whose orientation flipped an axis starts
a fraction of a pixel in: ``plan.decoded_offset``).

One ``resize`` call does region crop, cover crop and scaling at once (``box``),
so no intermediate copy is made and the box keeps sub-pixel precision. With
``reducing_gap`` Pillow first shrinks by an integer factor with ``reduce()``
(a fast box filter) while at least ``REDUCING_GAP``× the output size is left,
then finishes with LANCZOS: Pillow's documentation describes a gap of 3 as
indistinguishable from a full LANCZOS pass. Never enlarges: the plan never asks.
"""

from __future__ import annotations

from PIL import Image

from core.processing.context import Context

REDUCING_GAP = 3.0
RESAMPLE = Image.Resampling.LANCZOS


def scale(image: Image.Image, ctx: Context) -> Image.Image:
    """Resample ``ctx.output.plan.box`` (upright source pixels) to ``ctx.output.plan.size``."""
    box = _box(image.size, ctx)
    size = ctx.output.plan.size
    if not resamples(image.size, ctx):
        return image if box == (0, 0, *image.size) else image.crop(box)
    return image.resize(size, RESAMPLE, box=box, reducing_gap=REDUCING_GAP)


def resamples(image_size: tuple[int, int], ctx: Context) -> bool:
    """Whether the box needs resampling, or is the image itself or a whole-pixel crop of it."""
    box = _box(image_size, ctx)
    integral = all(float(v).is_integer() for v in box)
    return not (integral and (box[2] - box[0], box[3] - box[1]) == ctx.output.plan.size)


def _box(image_size: tuple[int, int], ctx: Context) -> tuple[float, float, float, float]:
    sx, sy = ctx.source.scale
    ox, oy = ctx.source.offset
    x0, y0, x1, y1 = ctx.output.plan.box
    return x0 * sx + ox, y0 * sy + oy, min(x1 * sx + ox, image_size[0]), min(y1 * sy + oy, image_size[1])
