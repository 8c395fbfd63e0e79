"""Output and effect arguments: ``quality``, ``format``/``webp``, ``rotate``, the flags, ``strip``."""

from __future__ import annotations

from typing import NamedTuple

from core.args.values import boolean, choice, colour, shown, whole
from core.errors import InvalidArgument
from core.transform import BLACK
from core.types import Colour, OutputFormat, Strip

FORMATS: dict[str, OutputFormat] = {
    "jpeg": "jpeg", "jpg": "jpeg", "png": "png", "webp": "webp", "avif": "avif", "gif": "gif",
}  # fmt: skip
STRIPS: dict[str, Strip] = {"all": "all", "info": "info", "color": "color", "colour": "color"}


class Flags(NamedTuple):
    """Everything but sizing and cropping."""

    quality: int
    format: OutputFormat | None
    background: Colour
    rotate: int
    flip: bool
    flop: bool
    negative: bool
    grayscale: bool
    strip: Strip


def read_flags(args: dict[str, str], default_quality: int) -> Flags:
    """Read the output and effect arguments; ``format=`` wins over ``webp=``."""
    fmt: OutputFormat | None = choice("format", args["format"], FORMATS) if "format" in args else None
    if fmt is None and "webp" in args and boolean("webp", args["webp"]):
        fmt = "webp"
    return Flags(
        quality=whole("quality", args["quality"], 1, 100) if "quality" in args else default_quality,
        format=fmt,
        background=colour("background", args["background"]) if "background" in args else BLACK,
        rotate=_rotate(args["rotate"]) if "rotate" in args else 0,
        flip=_flag(args, "flip"),
        flop=_flag(args, "flop"),
        negative=_flag(args, "negative"),
        grayscale=_flag(args, "grayscale"),
        strip=choice("strip", args["strip"], STRIPS) if "strip" in args else "info",
    )


def _flag(args: dict[str, str], name: str) -> bool:
    return boolean(name, args[name]) if name in args else False


def _rotate(value: str) -> int:
    if value not in {"0", "90", "180", "270"}:
        raise InvalidArgument("rotate", f"must be 0, 90, 180 or 270 (degrees clockwise), got {shown(value)}.")
    return int(value)
