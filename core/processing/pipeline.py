"""The render, as an ordered list of named steps (the way imgproxy's pipeline reads).

    probe (guards) → plan → decode (JPEG DCT draft) →
    orient → colour → scale → strategy_crop → rotate → effects → pad → encode

``DECODE_STEPS`` run once per decoded original; ``SHAPE_STEPS`` run once per
output, so ``render_many`` decodes a WordPress size set once and derives each
size from the same upright pixels. Each step is a function
``(image, Context) -> image`` in its own module and never modifies its input.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from PIL import Image

from core.formats import ANIMATED_FORMATS
from core.limits import Limits
from core.processing.animation import render_frames
from core.processing.colour import normalise
from core.processing.context import Context, Output, Source
from core.processing.decode import decode
from core.processing.effects import effects
from core.processing.encode import encode
from core.processing.guards import check_animation, probe
from core.processing.model import Rendered, SourceInfo
from core.processing.orient import orient
from core.processing.pad import pad
from core.processing.plan import Plan, decoded_offset, draft_factor, make_plan
from core.processing.rotate import rotate
from core.processing.scale import resamples, scale
from core.processing.smart import strategy_crop
from core.transform import Transform
from core.types import OutputFormat

DecodeStep = Callable[[Image.Image, Source], Image.Image]
Step = Callable[[Image.Image, Context], Image.Image]

DECODE_STEPS: tuple[tuple[str, DecodeStep], ...] = (("orient", orient), ("colour", normalise))
SHAPE_STEPS: tuple[tuple[str, Step], ...] = (
    ("scale", scale),
    ("strategy_crop", strategy_crop),
    ("rotate", rotate),
    ("effects", effects),
    ("pad", pad),
)


#: A size set's output is resampled from an earlier, larger one (fast mode) only when that
#: one has at least this many pixels per output pixel on each side: a 2× LANCZOS-3
#: reduction of a LANCZOS-3 result scores as the one-pass resize (benchmarks/bench_speed.py).
CASCADE_MARGIN = 2.0


class Timer:
    """Milliseconds per named step, in the order the steps ran."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = self.steps.get(name, 0.0) + (now - self._last) * 1000
        self._last = now

    def result(self) -> tuple[tuple[str, float], ...]:
        return tuple((name, round(ms, 3)) for name, ms in self.steps.items())


def run(source: bytes, jobs: Sequence[tuple[Transform, OutputFormat]], limits: Limits) -> list[Rendered]:
    """Render every job from one decode of ``source`` (still images) or per job (animations)."""
    info = probe(source, limits)
    plans = [make_plan(info, transform, limits) for transform, _fmt in jobs]
    outputs = [Output(transform=t, plan=p, format=f) for (t, f), p in zip(jobs, plans, strict=True)]
    results: dict[int, Rendered] = {}
    still: list[int] = []
    for index, output in enumerate(outputs):
        if info.animated and output.format in ANIMATED_FORMATS:
            max_bytes = check_animation(info, output.plan, limits)
            timer = Timer()
            source_ctx = Context(Source(info=info, quality_mode=limits.quality_mode), output)
            data, frames = render_frames(source, source_ctx, SHAPE_STEPS, max_bytes)
            timer.lap("animation")
            width, height = output.plan.output
            results[index] = Rendered(data, output.format, width, height, frames, timer.result())
        else:
            still.append(index)
    if still:
        timer = Timer()
        factor = min(draft_factor(info, plans[i], limits.quality_mode) for i in still)
        decoded, scale_factor = decode(source, info, factor)
        decoded_source = Source(
            info=info,
            scale=(scale_factor, scale_factor),  # DCT scaling is the same on both axes
            offset=decoded_offset(info, round(1 / scale_factor)),
            palette=decoded.mode == "P",
            quality_mode=limits.quality_mode,
            icc=_bytes(decoded.info.get("icc_profile")),
            exif=_bytes(decoded.info.get("exif")),
        )
        timer.lap("decode")
        base: Image.Image = decoded
        indexed: Image.Image | None = None
        for name, decode_step in DECODE_STEPS:
            if name == "colour" and base.mode == "P":
                indexed = base  # upright palette indices, before they become colours
            base = decode_step(base, decoded_source)
            timer.lap(name)
        decoded_source = replace(decoded_source, indexed=indexed)
        cascade = limits.quality_mode == "fast" and indexed is None and len(still) > 1
        scaled: list[Image.Image] = []  # whole-picture outputs of ``scale`` so far, largest first
        for i in sorted(still, key=lambda i: -plans[i].size[0] * plans[i].size[1]) if cascade else still:
            image, mapped = (
                cascaded(base, decoded_source, plans[i], scaled) if cascade else (base, decoded_source)
            )
            results[i], resampled = _render_still(image, Context(mapped, outputs[i]), timer)
            if cascade and covers_all(plans[i], info):
                scaled.append(resampled)
            timer = Timer()  # the shared decode is counted once, on the first output
    return [results[i] for i in range(len(jobs))]


def cascaded(
    base: Image.Image, source: Source, plan: Plan, scaled: list[Image.Image]
) -> tuple[Image.Image, Source]:
    """The smallest earlier whole-picture output that still has ``CASCADE_MARGIN``× this
    output's pixels on each side, and the ``Source`` that maps the plan onto it; else the decode.

    A size set then resamples each size from the next larger one instead of from the
    decode (docs/rendering.md, "Size sets"): the work of each resize follows its input.
    """
    width, height = source.info.width, source.info.height
    bw, bh = plan.box[2] - plan.box[0], plan.box[3] - plan.box[1]
    for image in reversed(scaled):  # smallest first
        sx, sy = image.width / width, image.height / height
        if bw * sx >= CASCADE_MARGIN * plan.size[0] and bh * sy >= CASCADE_MARGIN * plan.size[1]:
            return image, replace(source, scale=(sx, sy), offset=(0.0, 0.0))
    return base, source


def covers_all(plan: Plan, info: SourceInfo) -> bool:
    """Whether the plan resamples the whole upright picture (its ``scale`` output can feed a smaller one)."""
    return plan.box == (0.0, 0.0, float(info.width), float(info.height))


def _render_still(image: Image.Image, ctx: Context, timer: Timer) -> tuple[Rendered, Image.Image]:
    """The output, and the image as ``scale`` left it (for the size set's cascade)."""
    if ctx.source.indexed is not None and keeps_indices(ctx.source.indexed, ctx):
        image = ctx.source.indexed
    resampled = image
    for name, step in SHAPE_STEPS:
        image = step(image, ctx)
        if name == "scale":
            resampled = image
        timer.lap(name)
    data = encode(image, ctx)
    timer.lap("encode")
    return Rendered(data, ctx.output.format, image.width, image.height, 1, timer.result()), resampled


def keeps_indices(indexed: Image.Image, ctx: Context) -> bool:
    """Whether a palette original's output can be made from its indices, pixel-exact.

    True for PNG and GIF outputs that only crop, rotate and mirror (no resampling,
    colour effect or letterbox): the palette, partial transparency included, is then
    written back as it was, instead of being re-quantised from colours.
    """
    t = ctx.output.transform
    return (
        ctx.output.format in ("png", "gif")
        and ctx.output.plan.canvas is None
        and not (t.grayscale or t.negative)
        and not resamples(indexed.size, ctx)
    )


def _bytes(value: object) -> bytes | None:
    return value if isinstance(value, bytes) and value else None


__all__ = ["DECODE_STEPS", "SHAPE_STEPS", "Plan", "SourceInfo", "run"]
