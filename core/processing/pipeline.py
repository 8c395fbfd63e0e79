"""The render, as an ordered list of named steps (the way imgproxy's pipeline reads).

    probe (guards) → plan → decode (JPEG DCT draft) →
    orient → colour → scale → strategy_crop → rotate → effects → pad → encode

``DECODE_STEPS`` run once per decoded original; ``SHAPE_STEPS`` run once per
output, so ``render_many`` decodes a WordPress size set once and derives each
size from the same upright pixels. Each step is a function
``(image, Context) -> image`` in its own module and never modifies its input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PIL import Image

from core.formats import ANIMATED_FORMATS
from core.limits import Limits
from core.processing.animation import render_frames
from core.processing.colour import normalise
from core.processing.context import Context
from core.processing.decode import decode
from core.processing.effects import effects
from core.processing.encode import encode
from core.processing.guards import probe
from core.processing.model import Rendered, SourceInfo
from core.processing.orient import orient
from core.processing.pad import pad
from core.processing.plan import Plan, draft_factor, make_plan
from core.processing.rotate import rotate
from core.processing.scale import scale
from core.processing.smart import strategy_crop
from core.transform import Transform
from core.types import OutputFormat

Step = Callable[[Image.Image, Context], Image.Image]

DECODE_STEPS: tuple[tuple[str, Step], ...] = (("orient", orient), ("colour", normalise))
SHAPE_STEPS: tuple[tuple[str, Step], ...] = (
    ("scale", scale),
    ("strategy_crop", strategy_crop),
    ("rotate", rotate),
    ("effects", effects),
    ("pad", pad),
)


def run(source: bytes, jobs: Sequence[tuple[Transform, OutputFormat]], limits: Limits) -> list[Rendered]:
    """Render every job from one decode of ``source`` (still images) or per job (animations)."""
    info = probe(source, limits)
    plans = [make_plan(info, transform, limits) for transform, _fmt in jobs]
    results: dict[int, Rendered] = {}
    still: list[int] = []
    for index, ((transform, fmt), plan) in enumerate(zip(jobs, plans, strict=True)):
        if info.animated and fmt in ANIMATED_FORMATS:
            ctx = Context(info, transform, plan, fmt, (1.0, 1.0), False, None, None)
            data, frames = render_frames(source, ctx, SHAPE_STEPS)
            results[index] = Rendered(data, fmt, plan.output[0], plan.output[1], frames)
        else:
            still.append(index)
    if still:
        factor = min(draft_factor(info, plans[i]) for i in still)
        decoded, scale_factor = decode(source, info, factor)
        icc = _bytes(decoded.info.get("icc_profile"))
        exif = _bytes(decoded.info.get("exif"))
        palette = decoded.mode == "P"
        base: Image.Image = decoded
        first = Context(info, jobs[still[0]][0], plans[still[0]], jobs[still[0]][1], (1.0, 1.0),
                        palette, icc, exif)  # fmt: skip
        for _name, step in DECODE_STEPS:
            base = step(base, first)
        factors = (scale_factor, scale_factor)  # DCT scaling is the same on both axes
        for i in still:
            transform, fmt = jobs[i]
            ctx = Context(info, transform, plans[i], fmt, factors, palette, icc, exif)
            results[i] = _render_still(base, ctx)
    return [results[i] for i in range(len(jobs))]


def _render_still(image: Image.Image, ctx: Context) -> Rendered:
    for _name, step in SHAPE_STEPS:
        image = step(image, ctx)
    return Rendered(encode(image, ctx), ctx.format, image.width, image.height, 1)


def _bytes(value: object) -> bytes | None:
    return value if isinstance(value, bytes) and value else None


__all__ = ["DECODE_STEPS", "SHAPE_STEPS", "Plan", "SourceInfo", "run"]
