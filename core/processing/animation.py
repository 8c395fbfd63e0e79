"""Animated GIF, WebP and APNG: every frame through the same steps, timing kept.

Pillow hands out each frame already composited onto the canvas, so every
output frame is a full picture; each is scaled, cropped, rotated and coloured
exactly like a still image. Durations and the loop count are copied; GIF and
APNG keep each frame's disposal method, and APNG frames replace the canvas
(``blend`` = source) because they are full pictures.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from PIL import Image

from core.processing.colour import to_working
from core.processing.context import Context
from core.processing.decode import open_image
from core.processing.encode import options, prepare
from core.processing.metadata import save_metadata

Step = Callable[[Image.Image, Context], Image.Image]


def render_frames(source: bytes, ctx: Context, steps: Sequence[tuple[str, Step]]) -> tuple[bytes, int]:
    """Encode every frame of an animation; returns the bytes and the frame count."""
    image = open_image(source, ctx.source.info)
    icc = image.info.get("icc_profile")
    if isinstance(icc, bytes) and icc:
        ctx = replace(ctx, source=replace(ctx.source, icc=icc))
    frames: list[Image.Image] = []
    durations: list[int] = []
    disposals: list[int] = []
    for index in range(ctx.source.info.frames):
        image.seek(index)
        image.load()
        frame = to_working(image.convert("RGBA") if image.mode in ("P", "PA", "1") else image.copy())
        for _name, step in steps:
            frame = step(frame, ctx)
        frames.append(prepare(frame, ctx.output.format, palette=False))
        durations.append(int(image.info.get("duration", 100) or 0))
        disposal = getattr(image, "disposal_method", image.info.get("disposal", 0))
        disposals.append(int(disposal) if isinstance(disposal, int) else 0)
    extra: dict[str, Any] = {"loop": int(image.info.get("loop", 0) or 0), "duration": durations}
    if ctx.output.format == "gif":
        extra["disposal"] = disposals
    elif ctx.output.format == "png":
        extra["disposal"] = [min(d, 2) for d in disposals]
        extra["blend"] = 0
    out = io.BytesIO()
    first, rest = frames[0], frames[1:]
    first.save(
        out,
        format=ctx.output.format.upper(),
        save_all=True,
        append_images=rest,
        **options(ctx.output.format, ctx.output.transform.quality),
        **save_metadata(first, ctx),
        **extra,
    )
    return out.getvalue(), len(frames)
