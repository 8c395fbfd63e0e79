"""Step: colour effects, ``grayscale`` then ``negative``; alpha is left untouched."""

from __future__ import annotations

from PIL import Image, ImageOps

from core.processing.context import Context


def effects(image: Image.Image, ctx: Context) -> Image.Image:
    """Apply grayscale and negative (on the colour channels only)."""
    t = ctx.output.transform
    if t.grayscale and image.mode in ("RGB", "RGBA"):
        image = image.convert("LA" if image.mode == "RGBA" else "L")
    if t.negative:
        if image.mode in ("LA", "RGBA"):
            *colour, alpha = image.split()
            inverted = [ImageOps.invert(band) for band in colour]
            image = Image.merge(image.mode, [*inverted, alpha])
        else:
            image = ImageOps.invert(image)
    return image
