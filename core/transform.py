"""The canonical transform: what a render does, as one frozen value.

``core.args`` builds it from a URL and nothing else does; it is already
canonical (arguments that cannot change the pixels are dropped, defaults are
written out), so two ``Transform`` values are equal exactly when the renders
are. The derivative key (``core.keys``) relies on that.

The values of reading a URL are ``NamedTuple``s, not dataclasses: the edge
builds these classes on every Lambda cold start, and ``dataclasses`` alone
imports ``inspect`` and ``ast``, a quarter of that start (docs/edge.md).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from core.types import Colour, Gravity, Mode, OutputFormat, Strategy, Strip

DEFAULT_QUALITY = 82
BLACK: Colour = (0, 0, 0, 255)  # the letterbox default, as Tachyon (Photon's behaviour)


def round_half_up(value: float) -> int:
    """Round as JavaScript's ``Math.round`` and WordPress do (168.5 → 169)."""
    return math.floor(value + 0.5)


class Length(NamedTuple):
    """One value of a ``crop=x,y,w,h`` region: pixels, or percent of the upright original."""

    value: float
    pixels: bool

    def resolve(self, side: int) -> int:
        """Pixels along a side of ``side`` pixels, rounded to the nearest pixel."""
        return round_half_up(self.value if self.pixels else side * self.value / 100)


Region = tuple[Length, Length, Length, Length]


class Transform(NamedTuple):
    """A canonical transform: equal values render equal pixels.

    Sizes are final output sizes (zoom already applied). ``mode`` names the one
    sizing rule in force; fields that do not apply to it are at their defaults.
    """

    mode: Mode | None = None
    width: int | None = None  # w, or the W of resize/fit/lb
    height: int | None = None  # h, or the H of resize/fit/lb
    crop: bool = False  # w+h with crop=1: fill exactly, cropping
    region: Region | None = None
    background: Colour = BLACK  # lb only: RGBA, opaque unless the URL gave an alpha
    gravity: Gravity = "center"  # resize and crop=1 only
    crop_strategy: Strategy | None = None  # resize and crop=1 only
    quality: int = DEFAULT_QUALITY  # effective: explicit, or lowered by zoom
    format: OutputFormat | None = None  # explicit output format
    rotate: int = 0
    flip: bool = False
    flop: bool = False
    negative: bool = False
    grayscale: bool = False
    strip: Strip = "info"  # default: drop all metadata but the colour profile

    @property
    def covers(self) -> bool:
        """Whether the output is filled exactly to width × height by cropping."""
        return self.mode == "resize" or (self.mode == "wh" and self.crop)
