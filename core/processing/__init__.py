"""The render core: (original bytes, Transform, output format) → derivative bytes.

CONTRACT (used by the edge, the worker and the CLI; keep these names and shapes):

- ``SourceInfo``: what ``probe`` reads from the header without decoding.
- ``probe(source, limits) -> SourceInfo``: detects the format from the bytes and
  applies every guard that can be checked before decoding; raises ``ImageRefused``.
- ``decode_pixels(info, transform, limits) -> int``: pixels the decode will hold (after
  JPEG DCT scaling), for the edge's sync/queue policy.
- ``render_transform(source, transform, fmt, limits) -> Rendered``.
- ``render_many(source, [(transform, fmt), ...], limits) -> [Rendered, ...]``:
  several outputs from one decode (a WordPress size set).
- ``render(source, query, *, accept=None, limits=DEFAULT_LIMITS) -> Rendered``:
  the library entry point (``core.render``).

Importing this package does not import Pillow (the edge's hit path never
renders); the steps live in ``core.processing.pipeline`` and are loaded on the
first probe or render. ``make_plan`` gives the output size of a render from the
header alone. No exception but ``ImageRefused`` leaves these functions for any
input bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from core.args import parse_query
from core.errors import ImageRefused, error_text
from core.formats import output_format
from core.limits import DEFAULT_LIMITS, Limits
from core.processing.model import Rendered, SourceInfo
from core.processing.plan import OutputTooLarge, Plan, decode_pixels, make_plan
from core.transform import Transform
from core.types import OutputFormat

T = TypeVar("T")

__all__ = [
    "ImageRefused",
    "OutputTooLarge",
    "Plan",
    "Rendered",
    "SourceInfo",
    "decode_pixels",
    "make_plan",
    "probe",
    "render",
    "render_many",
    "render_transform",
]


def probe(source: bytes, limits: Limits) -> SourceInfo:
    """Read the header and apply every guard that can be checked before decoding."""
    from core.processing import guards

    return _guarded(lambda: guards.probe(source, limits))


def render_many(
    source: bytes, jobs: Sequence[tuple[Transform, OutputFormat]], limits: Limits
) -> list[Rendered]:
    """Render several outputs of one original, decoding it once where possible."""
    from core.processing import pipeline

    return _guarded(lambda: pipeline.run(source, jobs, limits))


def render_transform(source: bytes, transform: Transform, fmt: OutputFormat, limits: Limits) -> Rendered:
    """Render one transform of ``source`` as ``fmt``."""
    return render_many(source, [(transform, fmt)], limits)[0]


def render(
    source: bytes, query: str, *, accept: str | None = None, limits: Limits = DEFAULT_LIMITS
) -> Rendered:
    """Render ``source`` as the URL arguments ``query`` ask, exactly as the service does.

    The output format follows ``core.formats.output_format`` with the format
    read from the bytes as the source format. Raises ``InvalidArgument`` for a
    bad query and ``ImageRefused`` for an image that cannot be rendered.
    """
    transform = parse_query(query, limits) or Transform()
    info = probe(source, limits)
    fmt = output_format(transform, info.format, animated=info.animated, accept=accept)
    return render_transform(source, transform, fmt, limits)


def _guarded(call: Callable[[], T]) -> T:
    """Run a core call so that any failure on hostile bytes is an ``ImageRefused``."""
    try:
        return call()
    except ImageRefused:
        raise
    except MemoryError:
        raise ImageRefused("the image needs more memory than this renderer has") from None
    except Exception as error:  # decoder and encoder errors on malformed data
        raise ImageRefused(f"cannot render this image: {error_text(error)}") from None
