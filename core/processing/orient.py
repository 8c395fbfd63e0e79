"""Step: apply EXIF orientation, so every later step works on the upright image.

The orientation comes from the probe (header only), not re-read here, so the
plan and the pixels can never disagree about which way is up.
"""

from __future__ import annotations

from PIL import Image

from core.processing.context import Source

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def orient(image: Image.Image, source: Source) -> Image.Image:
    """Turn the stored pixels upright."""
    method = _TRANSPOSE.get(source.info.orientation)
    return image if method is None else image.transpose(method)
