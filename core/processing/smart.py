"""Step: the automatic crop of ``crop_strategy`` (entropy, attention, smart).

A simple, honest implementation: the image has been scaled to cover the target,
so only one axis has slack; up to 24 candidate windows along it are scored on a
small greyscale preview and the best one is kept.

- ``entropy``: the window whose histogram has the most information (busy detail
  beats flat sky or walls), as Pillow's ``Image.entropy`` measures it.
- ``attention``: the window with the most edges and colour saturation, a cheap
  stand-in for visual saliency (people, products and text tend to have both).
- ``smart``: the same as ``attention``.
"""

from __future__ import annotations

from PIL import Image, ImageChops, ImageFilter, ImageStat

from core.processing.context import Context

PREVIEW = 256
CANDIDATES = 24


def strategy_crop(image: Image.Image, ctx: Context) -> Image.Image:
    """Crop ``ctx.output.plan.window`` out of the scaled image at the best-scoring place."""
    window = ctx.output.plan.window
    if window is None or ctx.output.plan.strategy is None:
        return image
    tw, th = window
    slack_x, slack_y = image.width - tw, image.height - th
    if slack_x <= 0 and slack_y <= 0:
        return image.crop((0, 0, tw, th))
    factor = max(1.0, max(image.size) / PREVIEW)
    preview = image.reduce(int(factor)) if factor >= 2 else image
    ratio = preview.width / image.width
    score_map = _scores(preview, ctx.output.plan.strategy)
    steps = min(CANDIDATES, max(slack_x, slack_y)) + 1
    best, best_offset = -1.0, 0
    for i in range(steps):
        offset = round(max(slack_x, slack_y) * i / max(1, steps - 1))
        x, y = (offset, 0) if slack_x > 0 else (0, offset)
        box = (
            int(x * ratio),
            int(y * ratio),
            max(int(x * ratio) + 1, int((x + tw) * ratio)),
            max(int(y * ratio) + 1, int((y + th) * ratio)),
        )
        value = _score(score_map.crop(box), ctx.output.plan.strategy)
        if value > best:
            best, best_offset = value, offset
    x, y = (best_offset, 0) if slack_x > 0 else (0, best_offset)
    return image.crop((x, y, x + tw, y + th))


def _scores(preview: Image.Image, strategy: str) -> Image.Image:
    grey = preview.convert("L")
    if strategy == "entropy":
        return grey
    edges = grey.filter(ImageFilter.FIND_EDGES)
    saturation = preview.convert("RGB").convert("HSV").getchannel("S")
    return ImageChops.add(edges, saturation, scale=2.0)


def _score(window: Image.Image, strategy: str) -> float:
    if strategy == "entropy":
        return float(window.entropy())
    return float(ImageStat.Stat(window).mean[0])
