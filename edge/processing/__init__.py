"""The render core: (original bytes, Transform, output format) → derivative bytes.

CONTRACT (used by the edge, the worker and the CLI; keep these names and shapes):

- ``SourceInfo``: what ``probe`` reads from the header without decoding.
- ``probe(source, limits) -> SourceInfo``: detects the format from the bytes and
  applies every guard that can be checked before decoding; raises ``ImageRefused``.
- ``decode_pixels(info, transform) -> int``: pixels the decode will hold (after
  JPEG DCT scaling), for the edge's sync/queue policy.
- ``render_transform(source, transform, fmt, limits) -> Rendered``.
- ``render(source, query, *, accept=None, limits=DEFAULT_LIMITS) -> Rendered``:
  the library entry point (``edge.render``).

The implementation below is a minimal placeholder; the ordered-steps pipeline replaces it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from edge.args import OutputFormat, Transform, parse_query
from edge.errors import ImageRefused
from edge.formats import output_format
from edge.limits import DEFAULT_LIMITS, Limits

_PIL_FORMATS: dict[str, OutputFormat] = {
    "JPEG": "jpeg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "AVIF": "avif",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """The original as read from its header: format from the bytes, upright size."""

    format: OutputFormat
    width: int
    height: int
    frames: int
    bytes: int

    @property
    def animated(self) -> bool:
        """More than one frame."""
        return self.frames > 1


@dataclass(frozen=True, slots=True)
class Rendered:
    """A finished derivative."""

    data: bytes
    format: OutputFormat
    width: int
    height: int
    frames: int = 1


def probe(source: bytes, limits: Limits = DEFAULT_LIMITS) -> SourceInfo:
    """Read the header and apply the guards (placeholder)."""
    try:
        with Image.open(io.BytesIO(source)) as image:
            fmt = _PIL_FORMATS.get(image.format or "")
            if fmt is None:
                raise ImageRefused("not a JPEG, PNG, GIF, WebP or AVIF image")
            return SourceInfo(fmt, image.width, image.height, getattr(image, "n_frames", 1), len(source))
    except ImageRefused:
        raise
    except Exception as error:
        raise ImageRefused(f"unreadable image: {error}") from None


def decode_pixels(info: SourceInfo, transform: Transform) -> int:
    """Pixels held by the decode (placeholder: no DCT scaling)."""
    return info.width * info.height * max(1, info.frames)


def render_transform(
    source: bytes, transform: Transform, fmt: OutputFormat, limits: Limits = DEFAULT_LIMITS
) -> Rendered:
    """Render one transform (placeholder: w/h/fit only)."""
    probe(source, limits)
    with Image.open(io.BytesIO(source)) as opened:
        image = ImageOps.exif_transpose(opened)
        if transform.width or transform.height:
            image.thumbnail((transform.width or 10**6, transform.height or 10**6))
        if fmt == "jpeg":
            image = image.convert("RGB")
        out = io.BytesIO()
        image.save(out, format=fmt.upper(), quality=transform.quality)
        return Rendered(out.getvalue(), fmt, image.width, image.height)


def render(
    source: bytes, query: str, *, accept: str | None = None, limits: Limits = DEFAULT_LIMITS
) -> Rendered:
    """Render ``source`` as the URL arguments ``query`` ask, exactly as the service does."""
    transform = parse_query(query, limits) or Transform()
    info = probe(source, limits)
    fmt = output_format(transform, info.format, animated=info.animated, accept=accept)
    return render_transform(source, transform, fmt, limits)
