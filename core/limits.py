"""Guard limits of the render core, as a plain frozen value.

The core stays free of the settings library: callers build ``Limits`` from the
typed configuration (``Settings.limits()``) or use the defaults below.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """What the core accepts; everything here is checked before decoding."""

    max_source_bytes: int = 50 * 1024 * 1024
    max_side: int = 20_000
    max_pixels: int = 50_000_000
    max_jpeg_scans: int = 100
    max_frames: int = 500
    max_animation_pixels: int = 200_000_000
    max_output_side: int = 8_192


DEFAULT_LIMITS = Limits()
