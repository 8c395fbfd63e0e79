"""Step: letterbox (``lb``): centre the fitted image on a canvas of exactly W×H.

The canvas is opaque in the ``background`` colour and transparent pixels of the
image are laid over it, so a letterboxed image looks the same in every format.
"""

from __future__ import annotations

from PIL import Image

from core.processing.context import Context


def pad(image: Image.Image, ctx: Context) -> Image.Image:
    """Place the image on the letterbox canvas, if the transform asks for one."""
    canvas_size = ctx.output.plan.canvas
    if canvas_size is None:
        return image
    background = ctx.output.transform.background
    grey = image.mode in ("L", "LA") and background[0] == background[1] == background[2]
    mode = "L" if grey else "RGB"
    canvas = Image.new(mode, canvas_size, background[0] if grey else background)
    offset = ((canvas_size[0] - image.width) // 2, (canvas_size[1] - image.height) // 2)
    if image.mode in ("LA", "RGBA"):
        canvas.paste(image.convert(mode), offset, image.getchannel("A"))
    else:
        canvas.paste(image.convert(mode), offset)
    return canvas
