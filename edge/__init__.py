"""Tachyon Edge: on-demand image derivatives for S3 behind CloudFront.

``edge.render(source, query, accept=None)`` is the library entry point; the
Lambda@Edge handlers live in ``edge.handler``. Pillow is imported only when
something is rendered, so importing ``edge`` stays cheap on the hit path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge.processing import Rendered, render

__all__ = ["Rendered", "render"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from edge import processing

        return getattr(processing, name)
    raise AttributeError(name)
