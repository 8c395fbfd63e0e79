"""The derivative core: URL arguments → canonical transform → key → pixels → bytes.

Pure and shared: the edge (``edge``), the worker (``worker``) and the command
line (``cli``) all use it, and it imports none of them and does no I/O.
``core.render(source, query, accept=None)`` is the library entry point. Pillow
is imported only when something is rendered, so importing ``core`` stays cheap
on the edge's hit path. See docs/architecture.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.processing import Rendered, render

__all__ = ["Rendered", "render"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from core import processing

        return getattr(processing, name)
    raise AttributeError(name)
