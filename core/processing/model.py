"""Plain values passed between the render core and its callers (no Pillow here).

Kept free of imaging imports so the edge can read ``SourceInfo`` and plan a
render on its hot path without loading Pillow.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.types import OutputFormat


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """The original as read from its header: format from the bytes, upright size.

    ``width``/``height`` are upright (EXIF orientation applied), because every
    size in a ``Transform`` is. ``orientation`` is the EXIF value (1–8) the
    decoder must still apply; ``stored`` sizes are derived from it.
    """

    format: OutputFormat
    width: int
    height: int
    frames: int
    bytes: int
    orientation: int = 1
    mode: str = "RGB"

    @property
    def animated(self) -> bool:
        """More than one frame."""
        return self.frames > 1

    @property
    def stored_size(self) -> tuple[int, int]:
        """Width and height as the pixels are stored (before EXIF orientation)."""
        if self.orientation in (5, 6, 7, 8):
            return self.height, self.width
        return self.width, self.height


@dataclass(frozen=True, slots=True)
class Rendered:
    """A finished derivative."""

    data: bytes
    format: OutputFormat
    width: int
    height: int
    frames: int = 1
    #: Milliseconds per named step (decode, orient, …, encode). In a set rendered
    #: from one decode, the shared decode steps are counted on the first output only.
    timings: tuple[tuple[str, float], ...] = ()
