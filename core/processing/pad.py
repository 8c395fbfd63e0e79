"""Step: letterbox (``lb``): centre the fitted image on a canvas of exactly W×H.

The bars take the ``background`` colour, opaque unless it has an alpha
(``#rrggbbaa``, ``transparent``); the image keeps its own alpha, so a transparent
logo stays transparent inside its bars, as sharp's ``contain`` does. JPEG has no
alpha: there the image is laid over the background, bars and all (a background
with alpha is first laid over white, as every transparent pixel of a JPEG is).
"""

from __future__ import annotations

from PIL import Image

from core.processing.context import Context
from core.types import Colour


def pad(image: Image.Image, ctx: Context) -> Image.Image:
    """Place the image on the letterbox canvas, if the transform asks for one."""
    canvas_size = ctx.output.plan.canvas
    if canvas_size is None:
        return image
    background = ctx.output.transform.background
    offset = ((canvas_size[0] - image.width) // 2, (canvas_size[1] - image.height) // 2)
    has_alpha = image.mode in ("LA", "RGBA")
    if ctx.output.format != "jpeg" and (has_alpha or background[3] < 255):
        mode = "LA" if _grey(image, background) else "RGBA"
        canvas = Image.new(mode, canvas_size, background[0::3] if mode == "LA" else background)
        canvas.paste(image.convert(mode), offset)  # the image's own pixels, alpha included
        return canvas
    opaque = _over_white(background)
    mode = "L" if _grey(image, opaque) else "RGB"
    canvas = Image.new(mode, canvas_size, opaque[0] if mode == "L" else opaque)
    if has_alpha:
        canvas.paste(image.convert(mode), offset, image.getchannel("A"))
    else:
        canvas.paste(image.convert(mode), offset)
    return canvas


def _grey(image: Image.Image, colour: tuple[int, ...]) -> bool:
    return image.mode in ("L", "LA") and colour[0] == colour[1] == colour[2]


def _over_white(colour: Colour) -> tuple[int, int, int]:
    r, g, b, a = colour
    return (
        (r * a + 255 * (255 - a) + 127) // 255,
        (g * a + 255 * (255 - a) + 127) // 255,
        (b * a + 255 * (255 - a) + 127) // 255,
    )
