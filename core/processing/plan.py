"""Geometry of a render, planned before any pixel is touched (pure, no Pillow).

Everything is worked out from the header (``SourceInfo``) and the canonical
``Transform``: which part of the upright original becomes the output, the size
it is resampled to, the JPEG DCT scale the decoder may use, and the final size.
Doing this first is what lets every later step run at the smallest size possible.

Frames of reference:
- *upright*: the original after EXIF orientation; regions are given in it.
- *view*: upright, region-cropped and then rotated by ``rotate``; the sizes of a
  ``Transform`` describe the view (sizes are final, rotation comes before sizing).
Pixels are resampled in the upright frame (the big image is never rotated); the
small result is rotated afterwards. Boxes and gravity are mapped back through the
inverse rotation so the result is the same as rotating first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.errors import ImageRefused
from core.limits import Limits
from core.processing.model import SourceInfo
from core.transform import Transform, round_half_up
from core.types import Gravity, QualityMode, Strategy

Box = tuple[float, float, float, float]
Size = tuple[int, int]

#: JPEG DCT scaling factor → how many decoded pixels per output pixel (each side) it
#: must still leave, per quality mode. ``fast`` (the default) decodes down to the
#: output size at every scale, libvips' shrink-on-load rule, and resamples once with
#: a full LANCZOS-3 convolution (``scale``): SSIM against a float reference is at
#: least sharp's on every case of benchmarks/bench_speed.py. ``best`` keeps 2×
#: headroom at 1/4 and 1/8, where libjpeg's scaled IDCT is close to a box average
#: (Pillow's ``thumbnail`` margin): 0.001–0.002 more resize SSIM at 768–1024 px
#: from a camera JPEG, for about twice the CPU. At 1/2 libjpeg runs a real 4×4 inverse DCT,
#: a good low-pass filter, so both modes decode down to the output size there.
DRAFT_MARGINS: dict[QualityMode, dict[int, float]] = {
    "fast": {8: 1.0, 4: 1.0, 2: 1.0},
    "best": {8: 2.0, 4: 2.0, 2: 1.0},
}
#: Originals of at most this many pixels (web-sized JPEGs) keep more headroom in both
#: modes: decoding them at full size costs a few milliseconds, and the DCT scalers lose
#: fine detail that sharp's full-size decode keeps (a 900 px photo at 300 px: SSIM
#: 0.996 at 1/2 against sharp's 0.998; 0.9999 from the full decode).
SMALL_ORIGINAL = 2_000_000
SMALL_MARGINS: dict[int, float] = {8: 2.0, 4: 2.0, 2: 1.5}

_GRAVITY: dict[Gravity, tuple[float, float]] = {
    "center": (0.5, 0.5), "north": (0.5, 0.0), "northeast": (1.0, 0.0), "east": (1.0, 0.5),
    "southeast": (1.0, 1.0), "south": (0.5, 1.0), "southwest": (0.0, 1.0), "west": (0.0, 0.5),
    "northwest": (0.0, 0.0),
}  # fmt: skip


class OutputTooLarge(ImageRefused):
    """The output would exceed ``max_output_side``: only an original that large can do that
    (sizes never enlarge), so the caller serves the original itself (docs/arguments.md)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do, in upright source pixels; see the module docstring."""

    region: tuple[int, int, int, int]  # integer region of the upright original (x0, y0, x1, y1)
    box: Box  # part of the upright original that is resampled (inside region)
    size: Size  # size the box is resampled to (upright frame)
    window: Size | None  # crop_strategy: window of ``size`` chosen from the pixels afterwards
    strategy: Strategy | None
    rotate: int
    canvas: Size | None  # letterbox: final canvas (view frame); content is centred on it
    output: Size  # final width × height

    @property
    def content(self) -> Size:
        """Size after resampling and any strategy crop, before rotation (upright frame)."""
        return self.window or self.size


def make_plan(info: SourceInfo, transform: Transform, limits: Limits) -> Plan:
    """Plan a render; raises ``ImageRefused`` for an empty region or an oversized output."""
    t = transform
    region = _region(info, t)
    rw, rh = region[2] - region[0], region[3] - region[1]
    swap = t.rotate in (90, 270)
    vw, vh = (rh, rw) if swap else (rw, rh)  # the view: what sizes describe

    canvas: Size | None = None
    window: Size | None = None
    view_box: Box = (0.0, 0.0, float(vw), float(vh))
    if t.covers and t.width and t.height:
        tw, th = min(t.width, vw), min(t.height, vh)
        scale = max(tw / vw, th / vh)
        if t.crop_strategy is not None:
            content = (max(tw, round_half_up(vw * scale)), max(th, round_half_up(vh * scale)))
            window = (tw, th)
        else:
            content = (tw, th)
            bw, bh = min(vw, tw / scale), min(vh, th / scale)
            gx, gy = _GRAVITY[t.gravity]
            x0, y0 = (vw - bw) * gx, (vh - bh) * gy
            view_box = (x0, y0, x0 + bw, y0 + bh)
        output = (tw, th)
    elif t.mode in ("fit", "lb", "wh"):
        content = _fit(vw, vh, t.width, t.height)
        output = content
        if t.mode == "lb" and t.width and t.height:
            canvas = (t.width, t.height)
            output = canvas
    else:
        content = (vw, vh)
        output = content

    if max(output) > limits.max_output_side:
        raise OutputTooLarge(
            f"the output would be {output[0]}×{output[1]} px; the largest output side is "
            f"{limits.max_output_side} px (ask for a smaller size)"
        )
    box = _unrotate_box(view_box, vw, vh, t.rotate)
    box = (box[0] + region[0], box[1] + region[1], box[2] + region[0], box[3] + region[1])
    size = (content[1], content[0]) if swap else content
    win = ((window[1], window[0]) if swap else window) if window else None
    return Plan(region, box, size, win, t.crop_strategy, t.rotate, canvas, output)


def draft_factor(info: SourceInfo, plan: Plan, mode: QualityMode) -> int:
    """Largest JPEG DCT scale (1, 2, 4, 8) that leaves the mode's margin of pixels (``DRAFT_MARGINS``)."""
    if info.format != "jpeg":
        return 1
    bw, bh = plan.box[2] - plan.box[0], plan.box[3] - plan.box[1]
    ratio = min(bw / plan.size[0], bh / plan.size[1])
    small = info.stored_size[0] * info.stored_size[1] <= SMALL_ORIGINAL
    for factor, margin in (SMALL_MARGINS if small else DRAFT_MARGINS[mode]).items():
        if ratio >= factor * margin:
            return factor
    return 1


def draft_request(info: SourceInfo, factor: int) -> Size | None:
    """The size to pass to ``Image.draft`` (stored frame) so Pillow picks ``factor``."""
    if factor <= 1:
        return None
    sw, sh = info.stored_size
    return max(1, sw // factor), max(1, sh // factor)


def decoded_size(info: SourceInfo, factor: int) -> Size:
    """Stored size after DCT scaling by ``factor`` (libjpeg rounds up)."""
    sw, sh = info.stored_size
    return math.ceil(sw / factor), math.ceil(sh / factor)


#: EXIF orientation → whether the upright x / y axis runs against the stored one.
_FLIPPED: dict[int, tuple[bool, bool]] = {
    2: (True, False), 3: (True, True), 4: (False, True), 6: (True, False), 7: (True, True), 8: (False, True),
}  # fmt: skip


def decoded_offset(info: SourceInfo, factor: int) -> tuple[float, float]:
    """Where the upright original starts in the decoded, oriented pixels (in decoded pixels).

    At 1/``factor`` libjpeg maps decoded pixel *i* to stored pixels [i·f, (i+1)·f)
    from the stored top-left, so the last decoded pixel also covers the padding up
    to a multiple of f. Where EXIF orientation flips an axis, that padding comes
    first in the upright frame: the picture starts (⌈n/f⌉·f − n)/f pixels in
    (half a pixel for an odd side at 1/2). Zero on axes that are not flipped.
    """
    if factor <= 1:
        return 0.0, 0.0
    stored_w, stored_h = info.stored_size
    dw, dh = decoded_size(info, factor)
    pad_x, pad_y = (dw * factor - stored_w) / factor, (dh * factor - stored_h) / factor
    if info.orientation in (5, 6, 7, 8):  # the upright x axis is the stored y axis
        pad_x, pad_y = pad_y, pad_x
    flip_x, flip_y = _FLIPPED.get(info.orientation, (False, False))
    return (pad_x if flip_x else 0.0), (pad_y if flip_y else 0.0)


def decode_pixels(info: SourceInfo, transform: Transform, limits: Limits) -> int:
    """Pixels the decoder will hold for this render, after JPEG DCT scaling, over all frames."""
    try:
        factor = draft_factor(info, make_plan(info, transform, limits), limits.quality_mode)
    except ImageRefused:
        factor = 1
    w, h = decoded_size(info, factor)
    return w * h * max(1, info.frames)


def _region(info: SourceInfo, t: Transform) -> tuple[int, int, int, int]:
    w, h = info.width, info.height
    if t.region is None:
        return 0, 0, w, h
    x, y, rw, rh = (
        t.region[0].resolve(w),
        t.region[1].resolve(h),
        t.region[2].resolve(w),
        t.region[3].resolve(h),
    )
    x0, y0 = min(max(x, 0), w), min(max(y, 0), h)
    x1, y1 = min(x + rw, w), min(y + rh, h)
    if x1 <= x0 or y1 <= y0:
        raise ImageRefused(f"the crop region lies outside the {w}×{h} px image (nothing left to show)")
    return x0, y0, x1, y1


def _fit(vw: int, vh: int, width: int | None, height: int | None) -> Size:
    """Fit inside width × height (either may be absent), never enlarging: WordPress's size.

    This is ``wp_constrain_dimensions`` (wp-includes/media.php), the size WordPress
    prints into ``width``/``height``/``srcset`` for the ``fit`` URLs its Tachyon plugin
    writes, in exact integer arithmetic (docs/rendering.md, "Geometry"):

    - each side that exceeds its bound gives a ratio (bound / side), the other ratio is 1;
    - the *larger* ratio wins when both sides, scaled by it and rounded, still fit;
      otherwise the smaller one (the limiting side);
    - both sides are scaled by the winning ratio and rounded half up, at least 1 px;
    - a bounded side that ends exactly one pixel short of its bound is bumped to it.
    """
    bw, bh = width or 0, height or 0
    did_w, did_h = 0 < bw < vw, 0 < bh < vh
    wr = (bw, vw) if did_w else (1, 1)  # ratios as (numerator, denominator)
    hr = (bh, vh) if did_h else (1, 1)
    small, large = (wr, hr) if wr[0] * hr[1] <= hr[0] * wr[1] else (hr, wr)
    fits = _scaled(vw, large) <= bw and _scaled(vh, large) <= bh
    ratio = large if fits else small
    w, h = max(1, _scaled(vw, ratio)), max(1, _scaled(vh, ratio))
    if did_w and w == bw - 1:
        w = bw
    if did_h and h == bh - 1:
        h = bh
    return w, h


def _scaled(side: int, ratio: tuple[int, int]) -> int:
    """``side × num / den`` rounded half up, exactly (no float can land beside a half)."""
    num, den = ratio
    return (2 * side * num + den) // (2 * den)


def _unrotate_box(box: Box, vw: int, vh: int, rotate: int) -> Box:
    """Map a box in the view (rotated clockwise by ``rotate``) back to the unrotated frame."""
    x0, y0, x1, y1 = box
    if rotate == 90:  # view x = H - sy, view y = sx; unrotated size is (vh, vw)
        return y0, vw - x1, y1, vw - x0
    if rotate == 180:
        return vw - x1, vh - y1, vw - x0, vh - y0
    if rotate == 270:  # view x = sy, view y = W - sx
        return vh - y1, x0, vh - y0, x1
    return box
