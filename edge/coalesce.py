"""One render of a small derivative at a time, across edges: concurrent misses wait for its PUT.

CloudFront collapses identical requests within one location, not across its
regional edge caches, and each of those runs its own copies of the function:
a burst of first requests for one derivative from around the world would
download, render and PUT it once per cache (docs/edge.md, "Stampede"). So the
invocation about to render claims ``rendering_key(token)`` in the lock store
(``SET NX``, expiring with the deadline, released early only when the render
fails); one that finds it taken polls S3 for the winner's derivative (a fresh
one, by the original's ETag) and is rewritten to it. It renders on its own
when the wait is over without one (the winner died or is slow) or when the
lock store does not answer quickly: coalescing saves work, it never costs a
viewer the derivative. Without Redis
(the job table, dev mode) claims are held by this process only.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from core.jobs import job_token, rendering_key
from core.objects import is_fresh
from edge import deadline

if TYPE_CHECKING:
    from core.settings import Settings
    from edge.s3 import S3Storage

#: Seconds a claim may take before this invocation renders without one.
CLAIM_TIMEOUT = 1.0
#: Longest wait for another invocation's derivative, seconds (a small render and PUT take ~0.1–0.5 s).
WAIT_MAX = 3.0
#: Seconds of the deadline kept for rendering here after a wait that found nothing.
RESERVE = 2.0
#: First and longest pause between two looks at S3 while waiting.
POLL_FIRST, POLL_MAX = 0.05, 0.1


class Renders:
    """Claims of the small renders in progress, in Redis when there is one, else in this process."""

    def __init__(self, settings: Settings, storage: S3Storage, redis: Any | None = None) -> None:
        self._settings = settings
        self._storage = storage
        self._url = settings.effective_lock_url
        self._redis = redis
        self._owned = redis is None  # a client given by the caller is closed by the caller
        self._local: dict[str, float] = {}  # token → expiry (monotonic), without Redis

    async def close(self) -> None:
        client, self._redis = self._redis, None
        if client is not None and self._owned:
            await client.aclose()

    async def once(
        self, bucket: str, key: str, etag: str | None, render: Callable[[], Awaitable[None]]
    ) -> bool:
        """Render (``render()``) unless a concurrent invocation does; True when another one did."""
        if not self._settings.coalesce_renders:
            await render()
            return False
        token = job_token(bucket, key)
        claimed = await self._claim(token)
        if not claimed and await self._wait(bucket, key, etag):
            return True
        try:
            await render()
        except BaseException:
            if claimed:  # the others need not wait for a derivative that is not coming
                await self._release(token)
            raise
        # A rendered claim is left to expire: a miss that arrives just after the PUT
        # (its primary pass saw no derivative yet) waits one look instead of rendering again.
        return False

    def _ttl(self) -> int:
        return max(1, math.ceil(self._settings.edge_deadline))

    async def _claim(self, token: str) -> bool:
        """Whether this invocation may render: it took the claim, or no store answered in time."""
        if not self._url and self._redis is None:
            now = time.monotonic()
            if self._local.get(token, 0.0) > now:
                return False
            if len(self._local) > 10_000:
                self._local = {t: until for t, until in self._local.items() if until > now}
            self._local[token] = now + self._ttl()
            return True
        try:
            if self._redis is None:
                from edge.queue import redis_client

                self._redis = redis_client(self._url or "")
            claim = self._redis.set(rendering_key(token), b"1", nx=True, ex=self._ttl())
            return bool(await asyncio.wait_for(claim, CLAIM_TIMEOUT))
        except Exception:  # the lock store is slow or away: render as if alone
            return True

    async def _release(self, token: str) -> None:
        if self._redis is None:
            self._local.pop(token, None)
            return
        with contextlib.suppress(Exception):  # it expires with the deadline anyway
            await asyncio.wait_for(self._redis.delete(rendering_key(token)), CLAIM_TIMEOUT)

    async def _wait(self, bucket: str, key: str, etag: str | None) -> bool:
        """Poll S3 for the derivative another invocation is writing; True once it is there and fresh."""
        current = deadline.current()
        budget = WAIT_MAX if current is None else min(WAIT_MAX, current.remaining() - RESERVE)
        until = time.monotonic() + budget
        pause = POLL_FIRST
        while time.monotonic() + pause < until:
            await asyncio.sleep(pause)
            pause = min(POLL_MAX, pause * 2)
            with contextlib.suppress(Exception):  # S3 trouble: keep looking until the wait is over
                found = await self._storage.head(bucket, key)
                if found is not None and is_fresh(found.metadata, etag):
                    return True
        return False
