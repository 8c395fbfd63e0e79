"""What the steps of one render read: facts about the decoded source, and what one output asks.

``Source`` is the same for every output of one decode (a WordPress size set
decodes once); ``Output`` is one derivative's transform, plan and format. Both
are built by keyword, so no field can be passed in the wrong place.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from core.processing.model import SourceInfo
from core.processing.plan import Plan
from core.transform import Transform
from core.types import OutputFormat, QualityMode


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """The decoded original: header facts and what the decoder found."""

    info: SourceInfo
    scale: tuple[float, float] = (1.0, 1.0)  # decoded pixels per upright source pixel (JPEG DCT scaling)
    offset: tuple[float, float] = (0.0, 0.0)  # upright origin in them (plan.decoded_offset)
    palette: bool = False  # the source was a palette image: PNG/GIF output stays palette
    indexed: Image.Image | None = None  # that palette image, upright: its indices, for exact outputs
    icc: bytes | None = None  # the source's ICC profile, if any
    exif: bytes | None = None  # the source's EXIF block, if any
    quality_mode: QualityMode = "fast"  # how resampling and encoders trade speed for quality


@dataclass(frozen=True, slots=True, kw_only=True)
class Output:
    """One derivative to make."""

    transform: Transform
    plan: Plan
    format: OutputFormat


@dataclass(frozen=True, slots=True)
class Context:
    """Read-only inputs of the shape steps (the image itself is passed step to step)."""

    source: Source
    output: Output
