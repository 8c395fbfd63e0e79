"""Step: cut the planned box out of the decoded image and resample it to size.

The box is in upright source pixels; ``Source.scale`` and ``Source.offset`` map it
onto the decoded pixels (a DCT-scaled JPEG whose orientation flipped an axis starts
a fraction of a pixel in: ``plan.decoded_offset``). One resize call does region
crop, cover crop and scaling at once (a box), so no intermediate copy is made and
the box keeps sub-pixel precision. Never enlarges: the plan never asks.

Two resamplers, by ``Source.quality_mode`` (docs/rendering.md, "Quality modes"):

- ``fast``: a full LANCZOS-3 convolution by fast_image_resize (``cykooz.resizer``,
  SIMD, working in place on Pillow images) for RGB, RGBA and L; 4–7× faster than
  Pillow's LANCZOS, and as exact (no pre-reduction). Other modes use Pillow.
- ``best``: Pillow's LANCZOS with ``reducing_gap``: it first shrinks by an integer
  factor with ``reduce()`` while at least ``REDUCING_GAP``× the output size is left
  (Pillow's documentation: a gap of 3 is indistinguishable from a full pass).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from PIL import Image

from core.processing.context import Context

if TYPE_CHECKING:
    from cykooz_resizer import Resizer

REDUCING_GAP = 3.0
RESAMPLE = Image.Resampling.LANCZOS
FAST_MODES = ("RGB", "RGBA", "L")  # what fast_image_resize takes from Pillow as is


def scale(image: Image.Image, ctx: Context) -> Image.Image:
    """Resample ``ctx.output.plan.box`` (upright source pixels) to ``ctx.output.plan.size``."""
    box = _box(image.size, ctx)
    size = ctx.output.plan.size
    if not resamples(image.size, ctx):
        return image if box == (0, 0, *image.size) else image.crop(box)
    if ctx.source.quality_mode == "fast" and image.mode in FAST_MODES:
        return lanczos3(image, box, size)
    return image.resize(size, RESAMPLE, box=box, reducing_gap=REDUCING_GAP)


Box = tuple[float, float, float, float]


def lanczos3(image: Image.Image, box: Box, size: tuple[int, int]) -> Image.Image:
    """``box`` of ``image`` resampled to ``size`` with one LANCZOS-3 convolution (alpha premultiplied)."""
    from cykooz_resizer import CropBox, FilterType, ResizeAlg, ResizeOptions

    out = Image.new(image.mode, size)
    crop = CropBox(box[0], box[1], box[2] - box[0], box[3] - box[1])
    options = ResizeOptions(resize_alg=ResizeAlg.convolution(FilterType.lanczos3), crop_box=crop)
    _resizer().resize_pil(image, out, options)
    return out


@cache
def _resizer() -> Resizer:
    """One resizer per process (it keeps its scratch buffers between calls)."""
    from cykooz_resizer import Resizer

    return Resizer()


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
