"""What the steps of one render share: the plan and facts about the decoded image."""

from __future__ import annotations

from dataclasses import dataclass

from core.processing.model import SourceInfo
from core.processing.plan import Plan
from core.transform import Transform
from core.types import OutputFormat


@dataclass(frozen=True, slots=True)
class Context:
    """Read-only inputs of the steps (the image itself is passed step to step)."""

    info: SourceInfo
    transform: Transform
    plan: Plan
    format: OutputFormat
    scale: tuple[float, float]  # decoded pixels per upright source pixel (JPEG DCT scaling)
    palette: bool  # the source was a palette image: PNG/GIF output stays palette
    icc: bytes | None  # the source's ICC profile, if any
    exif: bytes | None  # the source's EXIF block, if any
