"""The type names shared across the project, in one place.

Every module that speaks of an output format, a gravity or an edge outcome
imports the name from here, so a new value is added once.
"""

from __future__ import annotations

from typing import Literal

#: An output (and detected source) image format.
OutputFormat = Literal["jpeg", "png", "webp", "avif", "gif"]
#: Crop anchor of ``resize`` and ``crop=1``.
Gravity = Literal[
    "center", "north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest"
]
#: Automatic crop anchor (``crop_strategy``).
Strategy = Literal["entropy", "attention", "smart"]
#: Which metadata a derivative drops (``strip``).
Strip = Literal["all", "info", "color"]
#: The one sizing rule of a transform: ``resize``, ``fit``, ``lb`` or ``w``/``h``.
Mode = Literal["resize", "fit", "lb", "wh"]

#: An sRGB colour with alpha, 0–255 each (``background``).
Colour = tuple[int, int, int, int]
#: Width × height in pixels.
Size = tuple[int, int]
#: A box (x0, y0, x1, y1) in source pixels, sub-pixel precise.
Box = tuple[float, float, float, float]

#: The path the edge took for one request (``x-tachyon`` on the response).
Outcome = Literal["hit", "rendered", "queued", "fallback", "passthrough", "invalid"]
#: How the edge knows a derivative is current (``Settings.freshness``, docs/configuration.md).
Freshness = Literal["purge", "verify"]

QualityMode = Literal["fast", "best"]  # the render's speed/quality trade (docs/rendering.md, "Quality modes")
#: Which origin of an origin group a request goes to; None: a distribution with one origin.
Pass = Literal["primary", "failover"]
#: What happened to one derivative of a worker job.
JobOutcome = Literal["rendered", "fresh", "failed", "skipped"]
