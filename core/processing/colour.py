"""Step: bring any input mode to one the resampler handles exactly: L, LA, RGB or RGBA.

Pillow resamples palette and 1-bit images with NEAREST and clips 16-bit values,
so those are converted first: palette (with its transparency) to RGB/RGBA,
1-bit to L, 16/32-bit and float greys scaled (not clipped) to 8 bits, CMYK to
sRGB through its ICC profile when it has one.
"""

from __future__ import annotations

import io

from PIL import Image

from core.processing.context import Source

WORKING = frozenset({"L", "LA", "RGB", "RGBA"})


def normalise(image: Image.Image, source: Source) -> Image.Image:
    """Convert to a working mode; a no-op for the common L/RGB/RGBA inputs."""
    return to_working(image, source.icc)


def to_working(image: Image.Image, icc: bytes | None = None) -> Image.Image:
    """The conversion itself, usable on any frame."""
    mode = image.mode
    if mode in WORKING:
        return image
    if mode == "P":
        alpha = "transparency" in image.info or (image.palette is not None and "A" in image.palette.mode)
        return image.convert("RGBA" if alpha else "RGB")
    if mode == "PA":
        return image.convert("RGBA")
    if mode == "1":
        return image.convert("L")
    if mode == "CMYK":
        return _cmyk(image, icc)
    if mode.startswith("I"):
        wide = image if mode == "I" else image.convert("I")
        high = wide.getextrema()[1]
        return (
            wide.point(lambda v: v * (255 / 65535)).convert("L")
            if isinstance(high, int) and high > 255
            else wide.convert("L")
        )
    if mode == "F":
        high = image.getextrema()[1]
        factor = 255.0 if isinstance(high, float) and high <= 1.0 else 1.0
        return image.point(lambda v: v * factor).convert("L")
    if mode in ("La", "RGBa"):
        return image.convert(mode.upper())
    return image.convert("RGBA" if "A" in mode else "RGB")


def _cmyk(image: Image.Image, icc: bytes | None) -> Image.Image:
    if icc and icc[16:20] == b"CMYK":
        try:
            from PIL import ImageCms

            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(
                image, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
            )
            if converted is not None:
                return converted
        except Exception:  # a broken profile falls back to the plain formula
            pass
    return image.convert("RGB")
