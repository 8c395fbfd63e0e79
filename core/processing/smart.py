"""Step: the automatic crop of ``crop_strategy`` (entropy, attention, smart).

The image has been scaled to cover the target, so only one axis has slack; the
crop window slides along it. Every strategy reads a small preview (at most
``PREVIEW`` px on its long side, never fewer than ``MIN_SHORT`` across the thin
axis, so a thin 3:1 window is still many pixels tall) and scores every offset
along the slack axis from 1-D profiles (column or row means), so all positions
are tried, not a sample:

- ``smart``: the window holding the most *saliency*: skin tones (smartcrop.js's
  test), saturated colour, fine detail, and how much each spot differs from its
  surroundings (a centre-surround contrast, which lets a subject stand out of a
  busy but uniform texture such as foliage). Among windows that hold as much,
  the one that centres it.
- ``attention``: the window centred on the most salient spot (the peak of the
  same map blurred at two thirds of the window), as libvips' ``attention`` centres
  on its peak.
- ``entropy``: the window whose colours carry the most information: the Shannon
  entropy of its colour histogram on a coarse preview, where fine texture has
  blurred away and what remains is the picture's structure.

``benchmarks/bench_crop.py`` measures the share of a known subject each keeps,
against smartcrop.js's algorithm (docs/rendering.md).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageChops, ImageFilter, ImageMath

from core.processing.context import Context

PREVIEW = 256  # long side of the preview the strategies read
MIN_SHORT = 48  # short side of the preview at least (thin panoramas and banners)
#: smartcrop.js's skin colour (normalised RGB) and its threshold, as cos² of the angle to it.
SKIN = (0.78, 0.57, 0.44)
SKIN_COS2 = 0.9661
WEIGHTS = {"skin": 1.8, "saturation": 0.3, "detail": 0.2, "contrast": 0.6}
TIE = 0.995  # windows within 0.5 % of the best count as equally good


def strategy_crop(image: Image.Image, ctx: Context) -> Image.Image:
    """Crop ``ctx.output.plan.window`` out of the scaled image where the strategy chooses."""
    window = ctx.output.plan.window
    if window is None or ctx.output.plan.strategy is None:
        return image
    x, y = choose_offset(image, window, ctx.output.plan.strategy)
    return image.crop((x, y, x + window[0], y + window[1]))


def choose_offset(image: Image.Image, window: tuple[int, int], strategy: str) -> tuple[int, int]:
    """Top-left corner of the ``window``-sized crop of ``image`` that ``strategy`` keeps."""
    tw, th = window
    slack_x, slack_y = image.width - tw, image.height - th
    if slack_x <= 0 and slack_y <= 0:
        return 0, 0
    horizontal = slack_x > 0
    preview = _preview(image)
    ratio = preview.width / image.width if horizontal else preview.height / image.height
    length = preview.width if horizontal else preview.height
    span = max(1, min(length, round((tw if horizontal else th) * ratio)))
    if strategy == "entropy":
        start = _entropy_start(preview, span, horizontal)
    else:
        profile = _profile(_saliency(preview), horizontal)
        start = _peak_start(profile, span) if strategy == "attention" else _densest_start(profile, span)
    slack = slack_x if horizontal else slack_y
    offset = min(slack, max(0, round(start / ratio)))
    return (offset, 0) if horizontal else (0, offset)


def _preview(image: Image.Image) -> Image.Image:
    rgb = image.convert("RGB")
    factor = max(1.0, min(max(rgb.size) / PREVIEW, min(rgb.size) / MIN_SHORT))
    if factor <= 1:
        return rgb
    size = (max(1, round(rgb.width / factor)), max(1, round(rgb.height / factor)))
    return rgb.resize(size, Image.Resampling.BOX, reducing_gap=2.0)


def _saliency(preview: Image.Image) -> Image.Image:
    """Where a viewer looks (mode F, 0–255-ish): skin, saturation, detail, local contrast."""
    r, g, b = (band.convert("F") for band in preview.split())
    luma = preview.convert("L")
    detail = luma.filter(ImageFilter.FIND_EDGES).convert("F")
    hsv = preview.convert("HSV")
    value = hsv.getchannel("V").convert("F")
    saturation = hsv.getchannel("S").convert("F")
    surround = _blur(preview, max(preview.size) / 8)
    centre = preview.filter(ImageFilter.GaussianBlur(1))
    diff = ImageChops.difference(centre, surround).split()
    contrast = ImageChops.lighter(ImageChops.lighter(diff[0], diff[1]), diff[2]).convert("F")
    sr, sg, sb = SKIN
    norm = sr * sr + sg * sg + sb * sb
    w = WEIGHTS

    def combine(a: dict[str, Any]) -> Any:
        red, green, blue, edge, sat, val, con = (a[k] for k in ("r", "g", "b", "d", "s", "v", "c"))
        maximum, minimum = a["max"], a["min"]
        dot = red * sr + green * sg + blue * sb
        mag2 = red * red + green * green + blue * blue + 1.0
        cos2 = dot * dot / (mag2 * norm)
        skin = maximum(cos2 - SKIN_COS2, 0.0) * (255 / (1 - SKIN_COS2))
        skin = skin * (val > 0.2 * 255)
        sat = sat * (val > 0.05 * 255) * (val < 0.9 * 255 + 25)
        detail01 = minimum(edge, 255.0) / 255.0
        return (
            w["skin"] * skin * (detail01 + 0.01)
            + w["saturation"] * sat * (detail01 + 0.2)
            + w["detail"] * edge
            + w["contrast"] * con
        )

    return _image(ImageMath.lambda_eval(combine, r=r, g=g, b=b, d=detail, s=saturation, v=value, c=contrast))


def _image(value: object) -> Image.Image:
    assert isinstance(value, Image.Image)
    return value


def _blur(image: Image.Image, radius: float) -> Image.Image:
    """A wide blur, cheaply: down to a few pixels across and back up."""
    cells = max(2, round(max(image.size) / max(1.0, radius)))
    long = max(image.size)
    small = (max(1, round(image.width * cells / long)), max(1, round(image.height * cells / long)))
    return image.resize(small, Image.Resampling.BOX).resize(image.size, Image.Resampling.BILINEAR)


def _profile(saliency: Image.Image, horizontal: bool) -> list[float]:
    """Mean saliency of each column (horizontal slack) or row (vertical slack)."""
    size = (saliency.width, 1) if horizontal else (1, saliency.height)
    line = saliency.resize(size, Image.Resampling.BOX)
    return array("f", line.tobytes()).tolist()


def _window_sums(profile: Sequence[float], span: int) -> list[float]:
    total = sum(profile[:span])
    sums = [total]
    for i in range(span, len(profile)):
        total += profile[i] - profile[i - span]
        sums.append(total)
    return sums


def _densest_start(profile: Sequence[float], span: int) -> float:
    """Start of the window holding the most; among near-ties, the middle one (centred)."""
    sums = _window_sums(profile, span)
    best = max(sums)
    ties = [i for i, value in enumerate(sums) if value >= best * TIE]
    return (ties[0] + ties[-1]) / 2


def _peak_start(profile: Sequence[float], span: int) -> float:
    """Start of the window centred on the most salient spot: the densest stretch two
    thirds of the window long (the peak of the map blurred at that scale)."""
    spot = max(1, round(span * 2 / 3))
    centre = _densest_start(profile, spot) + spot / 2
    return min(max(0.0, centre - span / 2), float(len(profile) - span))


#: −p·log₂p, scaled by 50, for a bin's share p = v/255 of a neighbourhood.
_PLOGP = [round(-(v / 255) * math.log2(v / 255) * 50) if v else 0 for v in range(256)]


def _entropy_start(preview: Image.Image, span: int, horizontal: bool) -> float:
    """Start of the window with the most information that stands out (near-ties: centred).

    Each preview pixel is put in one of 27 fixed colour bins; around every pixel the
    Shannon entropy of the bins' shares in its neighbourhood is taken (high where
    colours meet in structure: text, faces, objects against their background; nil
    in flat areas), weighted by how much the spot differs from its wider
    surroundings, so a uniform texture (foliage, gravel) counts for little. The
    window holding the most of it wins.
    """
    coarse = preview.filter(ImageFilter.GaussianBlur(0.5))
    red, green, blue = coarse.split()
    indices = ImageChops.add(
        ImageChops.add(red.point(lambda v: v // 86 * 9), green.point(lambda v: v // 86 * 3)),
        blue.point(lambda v: v // 86),
    )
    radius = max(2.0, max(coarse.size) / 24)
    local = Image.new("L", coarse.size, 0)
    for k, n in enumerate(indices.histogram()[:27]):
        if n:
            share = _blur(indices.point(lambda v, k=k: 255 if v == k else 0), radius)
            local = ImageChops.add(local, share.point(_PLOGP))
    surround = _blur(preview, max(preview.size) / 8)
    diff = ImageChops.difference(coarse, surround).split()
    contrast = _blur(ImageChops.lighter(ImageChops.lighter(diff[0], diff[1]), diff[2]), radius)
    weighted = _image(
        ImageMath.lambda_eval(
            lambda a: a["e"] * (a["c"] + 8.0) * (a["c"] + 8.0), e=local.convert("F"), c=contrast.convert("F")
        )
    )
    return _densest_start(_profile(weighted, horizontal), span)
