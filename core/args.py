"""URL arguments → one validated, canonical, immutable ``Transform``.

This module is the only place that reads a query string. It speaks the
arguments of Tachyon, Tachyon@Edge and the WordPress Tachyon plugin (which
writes commas as ``%2C``). The ``Transform`` it returns is already canonical:
arguments that cannot change the pixels are dropped and defaults are written
out, so two ``Transform`` values are equal exactly when the renders are. The
derivative key (``core.keys``) relies on that.

Decisions beyond Tachyon, documented in ``docs/arguments.md``:
- exactly one sizing mode applies, by precedence ``resize`` > ``fit`` > ``lb`` > ``w``/``h``;
- ``zoom`` is folded into the target sizes and the default quality at parse time;
- an empty value (``?w=``) counts as absent;
- ``format=`` wins over ``webp=``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar
from urllib.parse import parse_qsl

from core.colours import CSS_COLOURS
from core.errors import InvalidArgument
from core.limits import DEFAULT_LIMITS, Limits

Gravity = Literal[
    "center", "north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest"
]
Strategy = Literal["entropy", "attention", "smart"]
Strip = Literal["all", "info", "color"]
Mode = Literal["resize", "fit", "lb", "wh"]
OutputFormat = Literal["jpeg", "png", "webp", "avif", "gif"]
T = TypeVar("T")

DEFAULT_QUALITY = 82
MAX_ZOOM = 10.0

#: Every argument name we understand; anything else is ignored.
KNOWN = frozenset(
    {
        "w", "h", "crop", "resize", "fit", "lb", "background", "gravity", "crop_strategy",
        "zoom", "quality", "webp", "format", "rotate", "flip", "flop", "negative",
        "grayscale", "greyscale", "strip",
    }
)  # fmt: skip

_GRAVITIES: dict[str, Gravity] = {
    "center": "center", "centre": "center", "north": "north", "northeast": "northeast",
    "east": "east", "southeast": "southeast", "south": "south", "southwest": "southwest",
    "west": "west", "northwest": "northwest",
}  # fmt: skip
_FORMATS: dict[str, OutputFormat] = {
    "jpeg": "jpeg", "jpg": "jpeg", "png": "png", "webp": "webp", "avif": "avif", "gif": "gif",
}  # fmt: skip
_ALIASES = {"greyscale": "grayscale"}
_STRIPS: dict[str, Strip] = {"all": "all", "info": "info", "color": "color", "colour": "color"}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_PIXELS = re.compile(r"^(\d+)(?:px)?$")
_HEX = re.compile(r"^#?([0-9a-f]{3}|[0-9a-f]{6})$")


@dataclass(frozen=True, slots=True)
class Length:
    """One value of a ``crop=x,y,w,h`` region: pixels, or percent of the upright original."""

    value: float
    pixels: bool

    def resolve(self, side: int) -> int:
        """Pixels along a side of ``side`` pixels, rounded to the nearest pixel."""
        return round_half_up(self.value if self.pixels else side * self.value / 100)


Region = tuple[Length, Length, Length, Length]


@dataclass(frozen=True, slots=True)
class Transform:
    """A canonical transform: equal values render equal pixels.

    Sizes are final output sizes (zoom already applied). ``mode`` names the one
    sizing rule in force; fields that do not apply to it are at their defaults.
    """

    mode: Mode | None = None
    width: int | None = None  # w, or the W of resize/fit/lb
    height: int | None = None  # h, or the H of resize/fit/lb
    crop: bool = False  # w+h with crop=1: fill exactly, cropping
    region: Region | None = None
    background: tuple[int, int, int] = (0, 0, 0)  # lb only
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


def round_half_up(value: float) -> int:
    """Round as JavaScript's ``Math.round`` and WordPress do (168.5 → 169)."""
    return math.floor(value + 0.5)


def zoom_quality(zoom: float, default: int = DEFAULT_QUALITY) -> int:
    """Tachyon's sliding quality for ``zoom`` > 1, so 2x images stay small."""
    if zoom <= 1:
        return default
    value = round_half_up(default - (math.log(zoom) / math.log(default / zoom)) * (default * zoom))
    return max(round_half_up(default / zoom), min(value, default))


def parse_query(query: str, limits: Limits = DEFAULT_LIMITS) -> Transform | None:
    """Parse a raw CloudFront query string (no ``?``).

    Returns ``None`` when no recognised argument is present: the request is
    then passed through untouched. Raises ``InvalidArgument`` for a bad value.
    """
    raw: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in KNOWN:
            raw[_ALIASES.get(name, name)] = value.strip()  # a repeated argument takes its last value
    args = {name: value for name, value in raw.items() if value != ""}
    if not args:
        return None
    return _build(args, limits)


def _build(args: dict[str, str], limits: Limits) -> Transform:
    zoom = _zoom(args["zoom"]) if "zoom" in args else 1.0
    side = limits.max_output_side
    mode: Mode | None = None
    width = height = None
    crop_flag = False
    region: Region | None = None

    crop = args.get("crop")
    if crop is not None:
        lowered = crop.lower()
        if lowered in _TRUE:
            crop_flag = True
        elif lowered not in _FALSE:
            region = _region(crop)

    sizing: tuple[Mode, ...] = ("resize", "fit", "lb")
    for name in sizing:
        if name in args:
            mode = name
            width, height = (_zoomed(name, v, zoom, side) for v in _pair(name, args[name]))
            break
    else:
        w = _zoomed("w", _int("w", args["w"]), zoom, side) if "w" in args else None
        h = _zoomed("h", _int("h", args["h"]), zoom, side) if "h" in args else None
        if w is not None or h is not None:
            mode, width, height = "wh", w, h

    cover = mode == "resize" or (mode == "wh" and crop_flag and width and height)
    quality = _int("quality", args["quality"], 1, 100) if "quality" in args else zoom_quality(zoom)
    fmt: OutputFormat | None = _choice("format", args["format"], _FORMATS) if "format" in args else None
    if fmt is None and "webp" in args and _bool("webp", args["webp"]):
        fmt = "webp"
    gravity = _choice("gravity", args["gravity"], _GRAVITIES) if "gravity" in args else "center"
    strategy = _strategy(args["crop_strategy"]) if "crop_strategy" in args else None
    background = _colour(args["background"]) if "background" in args else (0, 0, 0)
    return Transform(
        mode=mode,
        width=width,
        height=height,
        crop=bool(cover) and mode == "wh",
        region=region,
        background=background if mode == "lb" else (0, 0, 0),
        gravity=gravity if cover and strategy is None else "center",
        crop_strategy=strategy if cover else None,
        quality=quality,
        format=fmt,
        rotate=_rotate(args["rotate"]) if "rotate" in args else 0,
        flip=_bool("flip", args["flip"]) if "flip" in args else False,
        flop=_bool("flop", args["flop"]) if "flop" in args else False,
        negative=_bool("negative", args["negative"]) if "negative" in args else False,
        grayscale=_bool("grayscale", args["grayscale"]) if "grayscale" in args else False,
        strip=_choice("strip", args["strip"], _STRIPS) if "strip" in args else "info",
    )


def _int(name: str, value: str, low: int = 1, high: int | None = None) -> int:
    match = _PIXELS.match(value.lower())
    number = int(match.group(1)) if match else None
    if number is None or number < low or (high is not None and number > high):
        allowed = f"a whole number from {low} to {high}" if high else f"a whole number ≥ {low}"
        raise InvalidArgument(name, f"must be {allowed}, got {value!r}.")
    return number


def _pair(name: str, value: str) -> tuple[int, int]:
    parts = value.split(",")
    if len(parts) != 2:
        raise InvalidArgument(name, f"must be two sizes in pixels, 'W,H' (e.g. 300,200), got {value!r}.")
    return _int(name, parts[0].strip()), _int(name, parts[1].strip())


def _zoomed(name: str, value: int, zoom: float, limit: int) -> int:
    size = max(1, round_half_up(value * zoom))
    if size > limit:
        raise InvalidArgument(name, f"asks for {size} px; the largest output side is {limit} px.")
    return size


def _zoom(value: str) -> float:
    zoom = float(value) if _NUMBER.match(value) else 0.0
    if not 0 < zoom <= MAX_ZOOM:
        raise InvalidArgument("zoom", f"must be a number above 0 and at most {MAX_ZOOM:g}, got {value!r}.")
    return round(zoom, 3)


def _region(value: str) -> Region:
    parts = [p.strip().lower() for p in value.split(",")]
    reason = (
        "must be 1, true, or a region 'x,y,w,h' in percent or with px "
        f"(e.g. 10,10,80,80 or 0px,0px,300px,200px), got {value!r}."
    )
    if len(parts) != 4:
        raise InvalidArgument("crop", reason)
    lengths: list[Length] = []
    for i, part in enumerate(parts):
        pixels = part.endswith("px")
        number = part[:-2] if pixels else part
        if not _NUMBER.match(number):
            raise InvalidArgument("crop", reason)
        amount = float(number)
        if not math.isfinite(amount) or (not pixels and amount > 100) or (i >= 2 and amount <= 0):
            raise InvalidArgument("crop", reason)
        lengths.append(Length(round(amount, 4), pixels))
    return (lengths[0], lengths[1], lengths[2], lengths[3])


def _bool(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidArgument(name, f"must be 1 or true (0 or false to turn it off), got {value!r}.")


def _choice(name: str, value: str, options: Mapping[str, T]) -> T:
    try:
        return options[value.lower()]
    except KeyError:
        allowed = ", ".join(sorted(set(options)))
        raise InvalidArgument(name, f"must be one of {allowed}; got {value!r}.") from None


def _strategy(value: str) -> Strategy:
    strategies: dict[str, Strategy] = {
        "entropy": "entropy",
        "attention": "attention",
        "smart": "smart",
    }
    return _choice("crop_strategy", value, strategies)


def _rotate(value: str) -> int:
    if value not in {"0", "90", "180", "270"}:
        raise InvalidArgument("rotate", f"must be 0, 90, 180 or 270 (degrees clockwise), got {value!r}.")
    return int(value)


def _colour(value: str) -> tuple[int, int, int]:
    lowered = value.lower()
    hex_value = CSS_COLOURS.get(lowered, lowered)
    match = _HEX.match(hex_value)
    if not match:
        raise InvalidArgument("background", f"must be #rgb, #rrggbb or a CSS colour name, got {value!r}.")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
