"""Render at the edge now, or queue for the worker: decided here and nowhere else.

The edge has a 30 s budget and a fixed memory size, and a viewer waits while it
renders; so it renders only small static originals. Everything else goes to the
queue and the viewer gets the original meanwhile. The size is checked twice:
first from the original's ``ContentLength`` (no download for a large file), then
from the decoded pixel count the header promises (after JPEG DCT scaling), so a
small file that expands to a huge bitmap is not decoded at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from core.errors import ImageRefused

if TYPE_CHECKING:
    from core.limits import Limits
    from core.processing import SourceInfo
    from core.settings import Settings
    from core.transform import Transform

#: ``original``: the derivative would be the original or larger than the output limit
#: allows (WordPress's srcset asks ``w=<full width>``): serve the original as it is.
Action = Literal["render", "queue", "refuse", "original"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a derivative miss, and why (the reason goes to the log)."""

    action: Action
    reason: str


def by_size(content_length: int | None, settings: Settings) -> Decision | None:
    """Decide from the original's size alone, before downloading it; None means "look closer"."""
    if content_length is None:
        return None
    if content_length > settings.max_source_bytes:
        return Decision("refuse", f"original is {content_length} bytes, above {settings.max_source_bytes}")
    if content_length > settings.sync_max_bytes:
        return Decision("queue", f"original is {content_length} bytes, above {settings.sync_max_bytes}")
    return None


def by_image(info: SourceInfo, transform: Transform, settings: Settings, limits: Limits) -> Decision:
    """Decide from the original's header (``probe``), before decoding it."""
    from core.processing import OutputTooLarge, decode_pixels, make_plan

    try:
        make_plan(info, transform, limits)
    except OutputTooLarge as too_large:
        return Decision("original", too_large.args[0])
    except ImageRefused:
        pass  # refused again by the render, which names the reason
    if info.animated:
        return Decision("queue", f"animated ({info.frames} frames)")
    if info.bytes > settings.sync_max_bytes:
        return Decision("queue", f"original is {info.bytes} bytes, above {settings.sync_max_bytes}")
    pixels = decode_pixels(info, transform, limits)
    if pixels > settings.sync_max_pixels:
        return Decision("queue", f"decode needs {pixels} pixels, above {settings.sync_max_pixels}")
    return Decision("render", "small static image")


def set_members_here(
    info: SourceInfo, siblings: list[Transform], settings: Settings, limits: Limits
) -> list[Transform]:
    """The members of a size set the edge renders with the asked one: each that would be
    rendered here on its own (a small static original, its decode within the pixel
    limit); with ``size_set_at_edge`` off, none. The rest is left to their own misses."""
    if not settings.size_set_at_edge:
        return []
    return [t for t in siblings if by_image(info, t, settings, limits).action == "render"]
