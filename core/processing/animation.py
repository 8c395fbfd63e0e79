"""Animated GIF, WebP and APNG: frames streamed one at a time through the same steps.

Pillow hands out each frame already composited onto the canvas, so every frame
is a full picture; each is scaled, cropped, rotated and coloured exactly like a
still image, then handed to a streaming writer (``gif.py``, ``apng.py``,
``webp_anim.py``) and dropped. Only a few canvases exist at any time, whatever
the frame count: ``guards.animation_memory`` computes that working set from the
header and refuses a render that would not fit ``max_animation_memory`` before
any frame is decoded (docs/rendering.md, "Animation").

Timing is kept: each frame's duration, and the number of plays translated
between the formats' conventions (``plays``). An APNG whose default image is
not part of the animation (``default_image``) is rendered from its animation
frames only, so frames and durations stay paired.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from PIL import Image

from core.errors import ImageRefused
from core.processing.colour import to_working
from core.processing.context import Context
from core.processing.decode import open_image
from core.processing.model import SourceInfo
from core.types import OutputFormat

Frames = Iterator[tuple[Image.Image, int]]

Step = Callable[[Image.Image, Context], Image.Image]
DEFAULT_DURATION = 100  # ms, for a frame that declares none (what browsers show)


def plays(image: Image.Image, fmt: OutputFormat) -> int:
    """How many times the source plays (0 = forever), from the format's own convention.

    GIF: no NETSCAPE extension means once; its count is the repeats after the
    first play (0 = forever). WebP and APNG store the number of plays (0 = forever).
    """
    loop = image.info.get("loop")
    if fmt == "gif":
        if not isinstance(loop, int):
            return 1
        return 0 if loop == 0 else loop + 1
    return loop if isinstance(loop, int) and loop >= 0 else 0


def frames(image: Image.Image, info: SourceInfo) -> Iterator[tuple[Image.Image, int]]:
    """Each animation frame in a working mode, with its duration in ms, one at a time.

    A frame is only valid until the next one is asked for (the decoder reuses
    its buffers); the writers copy what they keep.
    """
    for index in range(_first(image), info.frames):
        try:
            image.seek(index)
            image.load()
        except Exception as error:  # truncated or corrupt frame data
            raise ImageRefused(f"corrupt or truncated {info.format.upper()} animation: {error}") from None
        frame = to_working(image)
        if frame.mode == "RGBA" and frame.getchannel("A").getextrema() == (255, 255):
            frame = frame.convert("RGB")  # opaque: cheaper to resample, same pixels
        duration = image.info.get("duration")
        valid = isinstance(duration, int | float) and duration >= 0
        yield frame, int(duration) if valid and duration is not None else DEFAULT_DURATION


def _first(image: Image.Image) -> int:
    """Index of the first animation frame: an APNG's default image may stand outside it."""
    return 1 if image.info.get("default_image") else 0


def render_frames(
    source: bytes, ctx: Context, steps: Sequence[tuple[str, Step]], max_bytes: int
) -> tuple[bytes, int]:
    """Encode every frame of an animation; returns the bytes and the number of frames written.

    ``max_bytes`` caps the encoded output (it is held in memory too): a render
    whose output grows past it is refused.
    """
    from core.processing import apng, gif, webp_anim

    image = open_image(source, ctx.source.info)
    icc = image.info.get("icc_profile")
    if isinstance(icc, bytes) and icc:
        ctx = replace(ctx, source=replace(ctx.source, icc=icc))
    count = plays(image, ctx.source.info.format)

    def shaped() -> Iterator[tuple[Image.Image, int]]:
        for frame, duration in frames(image, ctx.source.info):
            shaped = frame
            for _name, step in steps:
                shaped = step(shaped, ctx)
            yield shaped, duration

    fmt = ctx.output.format
    if fmt == "webp":
        return webp_anim.write(shaped(), ctx, count, max_bytes, ctx.source.info.frames - _first(image))
    return (gif.write if fmt == "gif" else apng.write)(shaped(), ctx, count, max_bytes)
