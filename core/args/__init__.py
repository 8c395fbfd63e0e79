"""URL arguments → one validated, canonical, immutable ``Transform``.

This package is the only place that reads a query string. It speaks the
arguments of Tachyon, Tachyon@Edge and the WordPress Tachyon plugin (which
writes commas as ``%2C``); every rule beyond Tachyon's is in docs/arguments.md.
The readers are split by concern: ``sizing`` (resize/fit/lb/w/h/zoom),
``crop`` (crop, gravity, crop_strategy), ``flags`` (format, quality, effects)
and ``values`` (single values).
"""

from __future__ import annotations

from core.args.canonical import KNOWN, canonical_query, read_args
from core.args.crop import read_anchor, read_crop
from core.args.flags import read_flags
from core.args.sizing import MAX_ZOOM, SizeLimits, read_sizing, zoom_quality
from core.transform import BLACK, Transform

__all__ = ["KNOWN", "MAX_ZOOM", "SizeLimits", "canonical_query", "parse_query", "zoom_quality"]


def parse_query(query: str, limits: SizeLimits) -> Transform | None:
    """Parse a raw CloudFront query string (no ``?``).

    Returns ``None`` when no recognised argument is present: the request is
    then passed through untouched. Raises ``InvalidArgument`` for a bad value.
    A repeated argument takes its last value; an empty value counts as absent.
    """
    args = read_args(query)
    if not args:
        return None
    return build(args, limits)


def build(args: dict[str, str], limits: SizeLimits) -> Transform:
    """The canonical transform of already-split arguments (names canonical, values non-empty)."""
    sizing = read_sizing(args, limits)
    crop = read_crop(args)
    fill = crop.fill and sizing.mode == "wh" and bool(sizing.width and sizing.height)
    covers = sizing.mode == "resize" or fill
    anchor = read_anchor(args, covers)
    flags = read_flags(args, zoom_quality(sizing.zoom))
    return Transform(
        mode=sizing.mode,
        width=sizing.width,
        height=sizing.height,
        crop=fill,
        region=crop.region,
        background=flags.background if sizing.mode == "lb" else BLACK,
        gravity=anchor.gravity,
        crop_strategy=anchor.strategy,
        quality=flags.quality,
        format=flags.format,
        rotate=flags.rotate,
        flip=flags.flip,
        flop=flags.flop,
        negative=flags.negative,
        grayscale=flags.grayscale,
        strip=flags.strip,
    )
