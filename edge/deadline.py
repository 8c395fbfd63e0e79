"""One deadline per edge invocation, which every S3, lock-store and queue call respects.

Lambda@Edge gives an origin-request trigger 30 s at most; CloudFront answers
the viewer 5xx when the function runs out. ``Edge.serve`` starts one
``Deadline`` of ``settings.edge_deadline`` seconds (10 s by default); the S3
adapter, the job queue and the render await their work through ``bound``,
which gives up when the time left is spent. The caller then serves the
original as a short-lived fallback (docs/edge.md, "Deadline"). The botocore
and redis timeouts are derived from the same setting (``core.clients``), so a
call cut short here also ends on its own soon after in its thread.

The deadline lives in a context variable: tasks started by ``asyncio.gather``
inherit it, and concurrent invocations (the local CloudFront) each have their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class DeadlineExceeded(Exception):
    """The invocation's time is spent: the viewer gets the original."""


@dataclass(frozen=True, slots=True)
class Deadline:
    """The monotonic time an invocation must be done with its calls by."""

    seconds: float
    ends: float

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.ends - time.monotonic())

    async def bound(self, work: Awaitable[T], what: str) -> T:
        """``await work`` within the time left; ``DeadlineExceeded`` naming ``what`` when it is up."""
        left = self.remaining()
        if left <= 0:
            if asyncio.iscoroutine(work):
                work.close()
            raise DeadlineExceeded(f"{what}: the {self.seconds:g} s deadline had passed")
        try:
            return await asyncio.wait_for(work, left)
        except TimeoutError:
            raise DeadlineExceeded(f"{what}: cut at the {self.seconds:g} s deadline") from None


_current: ContextVar[Deadline | None] = ContextVar("tachyon_edge_deadline", default=None)
_platform: ContextVar[float | None] = ContextVar("tachyon_platform_ends", default=None)
#: Seconds kept before the platform's own end of an invocation, to return the answer.
PLATFORM_MARGIN = 1.0


@contextmanager
def platform_ends_in(seconds: float | None) -> Iterator[None]:
    """Within: the platform ends this invocation in ``seconds`` (Lambda's remaining time; None: unknown).

    Deadlines started inside stop earlier, so a function timeout set below
    ``edge_deadline`` still ends in a fallback, not a 5xx.
    """
    token = _platform.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        _platform.reset(token)


def start(seconds: float) -> Deadline:
    """Start this invocation's deadline (in the current context) and return it."""
    ends = time.monotonic() + seconds
    platform = _platform.get()
    if platform is not None:
        ends = min(ends, platform - PLATFORM_MARGIN)
    deadline = Deadline(seconds, ends)
    _current.set(deadline)
    return deadline


def current() -> Deadline | None:
    """The deadline of the invocation running in this context, if one was started."""
    return _current.get()


async def bound(work: Awaitable[T], what: str) -> T:
    """``await work`` within the current invocation's deadline (unbounded outside an invocation)."""
    deadline = _current.get()
    if deadline is None:
        return await work
    return await deadline.bound(work, what)
