"""A miss on one member of the configured size set renders the set's missing members too.

The edge already holds the original's bytes for the asked derivative; rendering
the other sizes from the same decode (``render_many``) and writing them beside it
turns the rest of a page's ``srcset`` requests into hits: one GET and one decode
for the set instead of one per size (docs/rendering.md, "Size sets"). Members
that exist and are fresh are left alone; a member that fails is simply not written
(its own miss renders it later). Which members may render here: ``edge.policy``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from core.errors import ImageRefused
from core.keys import name_derivative
from core.objects import is_fresh, put_fields
from core.sizesets import siblings
from edge.policy import set_members_here
from edge.s3 import StorageError

if TYPE_CHECKING:
    from core.keys import Derivative
    from core.processing import Rendered
    from core.transform import Transform
    from edge.flow import Edge
    from edge.request import Ask


async def render(edge: Edge, ask: Ask, target: Derivative, data: bytes, etag: str | None) -> Rendered:
    """The asked derivative (stored by the caller); its missing siblings rendered from one decode, stored."""
    from core.processing import render_many

    others = await _missing(edge, ask, data, etag) if edge.settings.size_set else []
    jobs = [(ask.transform, target.format), *((t, d.format) for t, d in others)]
    try:
        rendered = await asyncio.to_thread(render_many, data, jobs, edge.limits)
    except ImageRefused:
        if not others:
            raise
        others = []  # one member refused: render the asked one alone, as without a set
        rendered = await asyncio.to_thread(render_many, data, jobs[:1], edge.limits)
    if others:
        with ask.trace.step("s3_put_set"):
            await asyncio.gather(
                *(
                    _put(edge, ask.bucket, derivative, output.data, etag)
                    for (_t, derivative), output in zip(others, rendered[1:], strict=True)
                )
            )
        ask.trace.set(size_set=len(others))
    return rendered[0]


async def _missing(edge: Edge, ask: Ask, data: bytes, etag: str | None) -> list[tuple[Transform, Derivative]]:
    """The set's other members that may render here and are not in S3 yet (or are stale)."""
    from core.processing import probe

    others = siblings(ask.transform, edge.settings.size_set, edge.limits)
    if not others:
        return []
    info = await asyncio.to_thread(probe, data, edge.limits)
    here = set_members_here(info, [t for _q, t in others], edge.settings, edge.limits)
    prefix = edge.settings.derivative_prefix
    named = [(t, name_derivative(ask.key, t, ask.source, animated=info.animated, accept=ask.accept,
                                 prefix=prefix)) for t in here]  # fmt: skip
    try:
        with ask.trace.step("s3_head_set"):
            heads = await asyncio.gather(*(edge.storage.head(ask.bucket, d.key) for _t, d in named))
    except StorageError:
        return []  # the asked derivative still renders; the others on their own misses
    fresh = [head is not None and is_fresh(head.metadata, etag) for head in heads]
    return [pair for pair, done in zip(named, fresh, strict=True) if not done]


async def _put(edge: Edge, bucket: str, derivative: Derivative, body: bytes, etag: str | None) -> None:
    with contextlib.suppress(StorageError):  # not written: that member's own miss renders it
        await edge.storage.put(bucket, derivative.key, body, put_fields(derivative.format, etag))
