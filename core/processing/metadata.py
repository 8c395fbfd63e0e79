"""Which metadata a derivative keeps (``strip``), decided in one place.

- default (``strip=info``): keep the ICC colour profile, drop EXIF, XMP and
  comments — a resized photo must not carry the camera's GPS position.
- ``strip=color``: drop the colour profile; keep EXIF, but never its GPS block,
  and with the orientation reset (the pixels are already upright).
- ``strip=all``: keep nothing.

A profile is only kept when it describes the output's colour space (an RGB
profile on RGB pixels, a grey one on grey): a CMYK profile after conversion
to sRGB, or an RGB profile on a ``grayscale`` result, would make viewers
misread the colours.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from core.processing.context import Context

_GPS_IFD = 0x8825
_ORIENTATION = 0x0112
_SPACE = {"RGB": b"RGB ", "RGBA": b"RGB ", "P": b"RGB ", "L": b"GRAY", "LA": b"GRAY"}


def save_metadata(image: Image.Image, ctx: Context) -> dict[str, Any]:
    """Keyword arguments for ``Image.save`` carrying the metadata to keep."""
    kept: dict[str, Any] = {}
    strip = ctx.output.transform.strip
    if strip == "info" and ctx.source.icc and ctx.source.icc[16:20] == _SPACE.get(image.mode):
        kept["icc_profile"] = ctx.source.icc
    if strip == "color" and ctx.source.exif:
        exif = _clean_exif(ctx.source.exif)
        if exif:
            kept["exif"] = exif
    return kept


def _clean_exif(raw: bytes) -> bytes | None:
    try:
        exif = Image.Exif()
        exif.load(raw)
        exif.pop(_GPS_IFD, None)
        exif.pop(_ORIENTATION, None)
        return exif.tobytes()
    except Exception:  # an unreadable EXIF block is simply not copied
        return None
