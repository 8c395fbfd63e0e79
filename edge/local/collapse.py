"""Request collapsing, as a CloudFront edge location does it.

When requests with the same cache key arrive while the first one's origin
fetch is still running, CloudFront holds them and gives them the first one's
response instead of asking the origin again. That holds only for a response
CloudFront may cache: with a minimum TTL of 0, a response with ``no-store``,
``no-cache``, ``private`` or ``max-age=0`` (or none, with a default TTL of 0)
is not shared, and each held request then goes to the origin itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Collapser(Generic[T]):
    """One origin fetch per key at a time; concurrent callers share its answer when it is cacheable."""

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[T | None]] = {}

    def __len__(self) -> int:
        return len(self._running)

    async def run(
        self, key: Hashable, fetch: Callable[[], Awaitable[T]], shareable: Callable[[T], bool]
    ) -> tuple[T, bool]:
        """``fetch()``'s answer, or the running one's for ``key``; True when it was shared."""
        running = self._running.get(key)
        if running is not None:
            shared = await asyncio.shield(running)
            if shared is not None and shareable(shared):
                return shared, True
            return await fetch(), False  # not shareable: this request asks the origin itself
        future: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        answer: T | None = None
        try:
            answer = await fetch()
            return answer, False
        finally:
            del self._running[key]
            future.set_result(answer)  # None when the fetch failed: the others try on their own
