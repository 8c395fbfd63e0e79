"""Decode the original, letting libjpeg shrink in the DCT domain (``draft``).

A JPEG asked for at 1/2, 1/4 or 1/8 scale is decoded straight at that size:
the full-size pixels never exist, which is most of the speed and memory win.
Every decoder failure (truncated data, corrupt streams) becomes ``ImageRefused``.
"""

from __future__ import annotations

import io

from PIL import Image

from core.errors import ImageRefused, error_text
from core.processing.guards import PLUGIN
from core.processing.model import SourceInfo
from core.processing.plan import draft_request


def open_image(source: bytes, info: SourceInfo) -> Image.Image:
    """Open lazily with only the plugin of the sniffed format."""
    try:
        return Image.open(io.BytesIO(source), formats=[PLUGIN[info.format]])
    except Exception as error:
        raise ImageRefused(f"unreadable {info.format.upper()} image: {error_text(error)}") from None


def decode(source: bytes, info: SourceInfo, factor: int = 1) -> tuple[Image.Image, float]:
    """The first frame, decoded (JPEG at 1/``factor`` scale), and the scale it has.

    The scale is exactly 1/factor, not decoded size / original size: libjpeg maps
    each decoded pixel to a ``factor``-wide block of the original (the last one
    padded), so an 899-pixel side at 1/2 is 450 pixels covering 900. Using the
    size ratio instead would shift the picture by up to half a pixel.
    """
    image = open_image(source, info)
    scale = 1.0
    try:
        request = draft_request(info, factor)
        if request is not None and info.format == "jpeg":
            drafted = image.draft(image.mode, request)
            if drafted is not None and drafted[1][2] > 0:
                scale = drafted[1][2] / info.stored_size[0]
        image.load()
    except Exception as error:  # truncated or corrupt pixel data
        raise ImageRefused(f"corrupt or truncated {info.format.upper()} image: {error_text(error)}") from None
    return image, scale
