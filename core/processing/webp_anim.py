"""Animated WebP writer, streamed through libwebp's animation encoder.

Pillow's WebP writer walks the frames of the image it saves by ``seek``; a
``_FrameStream`` is an image whose ``seek`` pulls the next rendered frame, so
libwebp receives one frame at a time and no list of frames ever exists.
libwebp itself encodes only what changed between frames and merges identical
ones. Key frames are not forced (``kmax`` 0, as libvips does): every frame may
be a difference frame, which is smaller and, since there are half as many
candidate encodings per frame, faster.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

from PIL import Image

from core.errors import ImageRefused
from core.processing.context import Context
from core.processing.encode import options
from core.processing.metadata import save_metadata


class _FrameStream(Image.Image):
    """An image of ``count`` frames, each produced on demand, in order, by an iterator.

    Seeking backwards is ignored: Pillow's writer seeks back to the start when done.
    """

    def __init__(self, frames: Iterator[tuple[Image.Image, int]], count: int) -> None:
        super().__init__()
        self._frames = frames
        self._index = -1
        self.n_frames = count
        self.durations: list[int] = []  # filled as frames arrive; the writer reads each after its frame
        self.seek(0)

    def seek(self, frame: int) -> None:
        if frame <= self._index:
            return
        item = next(self._frames, None)
        if frame != self._index + 1 or item is None:
            raise EOFError("frames are produced in order, once")
        image, duration = item
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.mode else "RGB")
        self.im = image.im
        self._mode = image.mode
        self._size = image.size
        self.durations.append(duration)
        self._index = frame

    def tell(self) -> int:
        return self._index


def write(
    frames: Iterable[tuple[Image.Image, int]], ctx: Context, plays: int, max_bytes: int, count: int
) -> tuple[bytes, int]:
    """The animated WebP of ``count`` frames ((image, ms) pairs); returns the bytes and the count."""
    stream = _FrameStream(iter(frames), count)
    extra: dict[str, Any] = {"duration": stream.durations, "loop": plays, "kmin": 0, "kmax": 0,
                             "background": (0, 0, 0, 0)}  # fmt: skip
    out = io.BytesIO()
    stream.save(
        out,
        format="WEBP",
        save_all=True,
        **options("webp", ctx.output.transform.quality),
        **save_metadata(stream, ctx),
        **extra,
    )
    if out.tell() > max_bytes:
        raise ImageRefused(f"the animated WebP would exceed {max_bytes:,} bytes (max_animation_memory)")
    return out.getvalue(), stream.n_frames
