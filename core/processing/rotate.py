"""Step: ``rotate`` (clockwise), then ``flip`` (top↔bottom) and ``flop`` (left↔right).

Runs after scaling, on the small image; the plan already sized and cropped the
upright image so that the rotated result has the requested output size.
"""

from __future__ import annotations

from PIL import Image

from core.processing.context import Context

_CLOCKWISE = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
              270: Image.Transpose.ROTATE_90}  # fmt: skip


def rotate(image: Image.Image, ctx: Context) -> Image.Image:
    """Rotate and mirror as the transform asks."""
    t = ctx.output.transform
    if t.rotate in _CLOCKWISE:
        image = image.transpose(_CLOCKWISE[t.rotate])
    if t.flip:
        image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    if t.flop:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image
