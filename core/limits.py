"""The guard limits of the render core, declared once.

``Limits`` is the plain value the core takes (explicitly: no core function
falls back to defaults on its own). ``core.settings.Settings`` inherits these
fields, so each limit has one name, default, bound and description, read from
the config file or ``TACHYON_MAX_*`` like any other setting. Every limit is
checked before decoding; docs/configuration.md lists them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from core.types import QualityMode


class Limits(BaseModel):
    """What the core accepts; everything here is checked before decoding."""

    model_config = ConfigDict(frozen=True)

    max_source_bytes: int = Field(50 * 1024 * 1024, ge=1, description="largest original read, in bytes")
    max_side: int = Field(20_000, ge=1, description="largest width or height of an original, in pixels")
    max_pixels: int = Field(50_000_000, ge=1, description="largest original, in pixels (one frame)")
    max_jpeg_scans: int = Field(100, ge=1, description="most scans of a progressive JPEG")
    max_frames: int = Field(500, ge=1, description="most frames of an animation")
    max_animation_pixels: int = Field(
        200_000_000, ge=1, description="most pixels of an animation, over all its frames"
    )
    max_animation_memory: int = Field(
        192 * 1024 * 1024,
        ge=1,
        description="most memory an animated render may hold at once, in bytes (canvases and output)",
    )
    max_output_side: int = Field(8_192, ge=1, description="largest width or height of a derivative")
    #: Not a guard, but the one render option every caller of the core passes along with
    #: the limits (edge, worker and CLI all hand the core ``Settings.limits()``).
    quality_mode: QualityMode = Field(
        "fast",
        description="fast: decode JPEGs down to the output size and resample once (sharp's speed and "
        "quality); best: keep 2× the pixels for the resampler (docs/rendering.md, 'Quality modes')",
    )


DEFAULT_LIMITS = Limits()
