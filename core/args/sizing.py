"""Sizing arguments: ``resize``, ``fit``, ``lb``, ``w``/``h`` and ``zoom``.

Exactly one sizing rule applies, by precedence ``resize`` > ``fit`` > ``lb`` >
``w``/``h`` (Tachyon's order); ``zoom`` is folded into the target sizes here
and into the default quality by ``zoom_quality`` (docs/arguments.md).

A zero in ``resize``/``fit``/``lb`` means "any" for that side, as in Tachyon: with
one side given the rule is the same as ``w``/``h`` alone (and gets the same
transform), with none it is no sizing at all. Sizes are bounded here by the
largest original side (``max_side``); whether the output fits the output limit
is the plan's question, since it depends on the original (never enlarged).
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

from core.args.values import NUMBER, pair, shown, too_long, whole
from core.errors import InvalidArgument
from core.transform import DEFAULT_QUALITY, round_half_up
from core.types import Mode

MAX_ZOOM = 10.0
_PAIRED: tuple[Mode, ...] = ("resize", "fit", "lb")


class SizeLimits(Protocol):
    """The limits reading a URL needs. ``core.limits.Limits`` has them; so may a plain object,
    which lets the edge answer a URL without importing pydantic (docs/edge.md)."""

    @property
    def max_side(self) -> int: ...


class Sizing(NamedTuple):
    """The sizing rule in force, with zoom applied to its sizes."""

    mode: Mode | None
    width: int | None
    height: int | None
    zoom: float


def read_sizing(args: dict[str, str], limits: SizeLimits) -> Sizing:
    """The one sizing rule the arguments ask for (``mode`` None when there is none)."""
    zoom = _zoom(args["zoom"]) if "zoom" in args else 1.0
    side = limits.max_side
    for name in _PAIRED:
        if name in args:
            width, height = (_zoomed(name, v, zoom, side) for v in pair(name, args[name], low=0))
            if width and height:
                return Sizing(name, width, height, zoom)
            return Sizing("wh" if width or height else None, width, height, zoom)
    w = _zoomed("w", whole("w", args["w"]), zoom, side) if "w" in args else None
    h = _zoomed("h", whole("h", args["h"]), zoom, side) if "h" in args else None
    if w is None and h is None:
        return Sizing(None, None, None, zoom)
    return Sizing("wh", w, h, zoom)


def zoom_quality(zoom: float, default: int = DEFAULT_QUALITY) -> int:
    """Tachyon's sliding quality for ``zoom`` > 1, so 2x images stay small."""
    if zoom <= 1:
        return default
    value = round_half_up(default - (math.log(zoom) / math.log(default / zoom)) * (default * zoom))
    return max(round_half_up(default / zoom), min(value, default))


def _zoomed(name: str, value: int, zoom: float, limit: int) -> int | None:
    """The size after zoom; None for a zero (any size on that side)."""
    if value == 0:
        return None
    size = max(1, round_half_up(value * zoom))
    if size > limit:
        raise InvalidArgument(name, f"asks for {size} px; no original is larger than {limit} px.")
    return size


def _zoom(value: str) -> float:
    zoom = float(value) if NUMBER.match(value) and not too_long(value) else 0.0
    if not 0 < zoom <= MAX_ZOOM:
        raise InvalidArgument(
            "zoom", f"must be a number above 0 and at most {MAX_ZOOM:g}, got {shown(value)}."
        )
    return round(zoom, 3)
