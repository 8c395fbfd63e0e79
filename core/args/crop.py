"""Crop arguments: ``crop`` (a flag or an ``x,y,w,h`` region), ``gravity``, ``crop_strategy``."""

from __future__ import annotations

from typing import NamedTuple

from core.args.values import FALSE, NUMBER, TRUE, choice, shown, too_long
from core.errors import InvalidArgument
from core.transform import Length, Region
from core.types import Gravity, Strategy

GRAVITIES: dict[str, Gravity] = {
    "center": "center", "centre": "center", "north": "north", "northeast": "northeast",
    "east": "east", "southeast": "southeast", "south": "south", "southwest": "southwest",
    "west": "west", "northwest": "northwest",
}  # fmt: skip
STRATEGIES: dict[str, Strategy] = {"entropy": "entropy", "attention": "attention", "smart": "smart"}


class Crop(NamedTuple):
    """What ``crop`` asks: fill by cropping (``crop=1``) and/or a region cut first."""

    fill: bool
    region: Region | None


class Anchor(NamedTuple):
    """Where a covering crop is taken: a gravity, or an automatic strategy."""

    gravity: Gravity
    strategy: Strategy | None


def read_crop(args: dict[str, str]) -> Crop:
    """``crop=1`` (fill), ``crop=0`` (nothing) or a region."""
    value = args.get("crop")
    if value is None or value.lower() in FALSE:
        return Crop(False, None)
    if value.lower() in TRUE:
        return Crop(True, None)
    return Crop(False, _region(value))


def read_anchor(args: dict[str, str], covers: bool) -> Anchor:
    """The anchor of a covering crop; the default when the output is not cropped."""
    gravity = choice("gravity", args["gravity"], GRAVITIES) if "gravity" in args else "center"
    strategy = choice("crop_strategy", args["crop_strategy"], STRATEGIES) if "crop_strategy" in args else None
    if not covers:
        return Anchor("center", None)
    return Anchor(gravity if strategy is None else "center", strategy)


_PARTS = ("x", "y", "width", "height")


def _region(value: str) -> Region:
    parts = [p.strip().lower() for p in value.split(",")]
    if len(parts) != 4:
        raise InvalidArgument(
            "crop",
            "must be 1, true, or a region 'x,y,w,h' in percent or with px "
            f"(e.g. 10,10,80,80 or 0px,0px,300px,200px), got {shown(value)}.",
        )
    lengths: list[Length] = []
    for i, part in enumerate(parts):
        pixels = part.endswith("px")
        number = part[:-2] if pixels else part
        what = f"the region's {_PARTS[i]}"
        if not NUMBER.match(number):
            raise InvalidArgument(
                "crop", f"must be numbers 'x,y,w,h' in percent or with px; {what} is {shown(part)}."
            )
        if too_long(number):
            raise InvalidArgument(
                "crop", f"must be a region within the image; {what} {shown(part)} is far too large."
            )
        amount = float(number)
        if not pixels and amount > 100:
            raise InvalidArgument(
                "crop",
                f"must be in percent from 0 to 100 (or pixels with px); {what} is {shown(part)} "
                f"— for pixels write {shown(part + 'px')}.",
            )
        if i >= 2 and amount <= 0:
            raise InvalidArgument("crop", f"must have a width and height above 0; {what} is {shown(part)}.")
        lengths.append(Length(round(amount, 4), pixels))
    return (lengths[0], lengths[1], lengths[2], lengths[3])
