"""The edge's request flow, as an object the Lambda handlers and the local CloudFront share.

``Edge(settings)`` owns its S3 and lock-store clients (made lazily inside the
running loop, then reused); ``origin_request`` and ``origin_response`` are safe
to await concurrently and never raise. CPU work (probe, render) runs in a
thread. What the URL alone decides (pass-through, 400, the primary pass's
rewrite) is ``edge.request``; ``serve`` does the rest: on the failover pass
the miss (``_after_failover``: read the original, render here or enqueue), on
a single origin or with ``freshness = "verify"`` today's lookup first
(``_find_hit``), with the original as fallback for any failure of ours. The
path taken travels to origin-response in ``OUTCOME_HEADER``. docs/edge.md has
the flow.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import ImageRefused
from core.jobs import render_job
from core.objects import is_fresh, normalise_etag, put_fields
from edge import deadline, events, response
from edge.budget import Budgets
from edge.coalesce import Renders
from edge.config import EdgeConfig
from edge.events import DIAGNOSTIC_HEADER, OUTCOME_HEADER
from edge.policy import Decision, by_image, by_size
from edge.queue import JobQueue, QueueError
from edge.request import Ask, mark, passthrough, route
from edge.s3 import Head, S3Storage, StorageError

if TYPE_CHECKING:
    from core.keys import Derivative
    from core.settings import Settings
    from edge.events import Request

#: Outcomes whose response is the original standing in for a derivative.
SHORT_LIVED = response.SHORT_LIVED


@dataclass(frozen=True, slots=True)
class Lookup:
    """What the hit check found: the original (None: missing) and a hit, if any."""

    original: Head | None
    hit: Request | None  # the request rewritten to a fresh derivative


class Fallback(Exception):
    """A failure of ours: serve the original with a short lifetime, log the reason."""


class Edge:
    """The origin-request / origin-response logic for one configuration."""

    def __init__(
        self,
        settings: Settings,
        *,
        s3: Any | None = None,
        redis: Any | None = None,
        celery_app: Any | None = None,
    ) -> None:
        self.settings = settings
        self.config = EdgeConfig.from_settings(settings)
        self.limits = settings.limits()
        self.storage = S3Storage(settings, s3)
        self.queue = JobQueue(settings, redis=redis, app=celery_app)
        self.budgets = Budgets(settings, redis=redis)
        self.renders = Renders(settings, self.storage, redis)  # one render per derivative at a time

    async def close(self) -> None:
        """Release the clients this edge made."""
        await self.storage.close()
        await self.queue.close()
        await self.budgets.close()
        await self.renders.close()

    # origin-request ---------------------------------------------------------------

    async def origin_request(self, event: Any) -> dict[str, Any]:
        """The request to send to S3 (possibly rewritten) or a generated 400; never raises."""
        routed = route(event, self.config)
        return await self.serve(routed) if isinstance(routed, Ask) else routed

    async def serve(self, ask: Ask) -> dict[str, Any]:
        """What the URL alone could not answer: S3, then render or enqueue; never raises.

        Writes the request's log line (``edge.request.route`` started it).
        """
        trace = ask.trace
        deadline.start(self.settings.edge_deadline)  # every S3/lock/queue call below respects it
        try:
            bucket = self.settings.bucket or events.bucket_of(ask.request)
            if not bucket:
                raise Fallback("no bucket: set TACHYON_BUCKET or use an S3 origin")
            ask.bucket = bucket
            if ask.passed == "failover":
                result = await self._after_failover(ask)
            else:
                result = await self._serve(ask)
        except Exception as error:
            reason = error.args[0] if isinstance(error, Fallback | ImageRefused) else repr(error)
            trace.set(outcome="fallback", reason=str(reason)[:500])
            result = mark(events.forward(ask.request), "fallback")
        trace.emit()
        return result

    async def _serve(self, ask: Ask) -> dict[str, Any]:
        """A single origin, or ``freshness = "verify"``: a fresh hit, else a miss."""
        found = await self._find_hit(ask)
        if found.original is None:
            return passthrough(ask.request, ask.trace, "original missing")
        if found.hit is not None:
            return found.hit
        return await self._miss(ask, found.original)

    async def _after_failover(self, ask: Ask) -> dict[str, Any]:
        """The failover pass: the primary found no derivative, so this is a miss.

        One GET of the original gives its existence, size and ETag; its body is
        read only when it is small enough to render here.
        """
        limit = min(self.settings.sync_max_bytes, self.settings.max_source_bytes)
        try:
            if self.storage.needs_client:  # first call only: credentials and the S3 model
                with ask.trace.step("s3_client"):
                    await self.storage.client()
            with ask.trace.step("s3_get"):
                got = await self.storage.get(ask.bucket, ask.key, max_bytes=limit)
        except StorageError as error:
            raise Fallback(str(error)) from error
        if got is None:
            return passthrough(ask.request, ask.trace, "original missing")
        data, head = got
        ask.trace.set(key=ask.derivative_key(self.settings.derivative_prefix))
        return await self._miss(ask, head, data)

    async def _miss(self, ask: Ask, original: Head, data: bytes | None = None) -> dict[str, Any]:
        """No usable derivative: render here or enqueue, as ``edge.policy`` decides."""
        key = ask.derivative_key(self.settings.derivative_prefix)
        over = await self.budgets.admit(ask.bucket, ask.key, key)  # docs/security.md, "Budgets"
        if over is not None:
            ask.trace.set(budget="derivatives")
            raise Fallback(over)
        decision = by_size(original.size, self.settings)
        if decision is None:
            done = await self._render_here(ask, (data, original) if data is not None else None)
            if not isinstance(done, Decision):
                return done  # rendered, or the original vanished meanwhile
            decision = done
        if decision.action == "refuse":
            raise Fallback(decision.reason)
        return await self._enqueue(ask, original, decision)

    async def _find_hit(self, ask: Ask) -> Lookup:
        """HEAD the derivative and the original at once (one round trip)."""
        key = ask.derivative_key(self.settings.derivative_prefix)
        trace = ask.trace
        try:
            if self.storage.needs_client:  # first call only: credentials and the S3 model
                with trace.step("s3_client"):
                    await self.storage.client()
            with trace.step("s3_head"):
                derived, original = await asyncio.gather(
                    self.storage.head(ask.bucket, key), self.storage.head(ask.bucket, ask.key)
                )
        except StorageError as error:
            raise Fallback(str(error)) from error
        if original is not None:
            if derived is not None and is_fresh(derived.metadata, original.etag):
                trace.set(outcome="hit", key=key)
                return Lookup(original, mark(events.rewrite_to_key(ask.request, key), "hit"))
            trace.set(key=key, stale=derived is not None)
        return Lookup(original, None)

    async def _render_here(self, ask: Ask, got: tuple[bytes, Head] | None = None) -> Decision | Request:
        """Download (unless ``got``) and probe the original; render a small static one here.

        Returns the rewritten request when rendered (or passed through when the
        original vanished), else the decision to queue or refuse.
        """
        trace = ask.trace
        if got is None:
            with trace.step("s3_get"):
                try:
                    fetched = await self.storage.get(ask.bucket, ask.key)
                except StorageError as error:
                    raise Fallback(str(error)) from error
            if fetched is None or fetched[0] is None:
                return passthrough(ask.request, trace, "original missing")
            got = (fetched[0], fetched[1])
        data, head = got
        from core.processing import probe

        with trace.step("probe"):
            info = await asyncio.to_thread(probe, data, self.limits)
        decision = by_image(info, ask.transform, self.settings, self.limits)
        if decision.action == "original":
            return passthrough(ask.request, trace, decision.reason)
        target = ask.name(animated=info.animated, prefix=self.settings.derivative_prefix)
        if decision.action != "render":
            trace.set(key=target.key)  # the key the worker writes (an animated GIF's is a .gif)
            return decision
        if await self.renders.once(ask.bucket, target.key, head.etag,
                                   lambda: self._render(ask, target, data, head.etag)):  # fmt: skip
            trace.set(outcome="hit", key=target.key, reason="rendered by a concurrent miss")
            return mark(events.rewrite_to_key(ask.request, target.key), "hit")
        trace.set(outcome="rendered", key=target.key, reason=decision.reason)
        return mark(events.rewrite_to_key(ask.request, target.key), "rendered")

    async def _enqueue(self, ask: Ask, original: Head, decision: Decision) -> Request:
        """Send one render job for the worker and serve the original meanwhile (queued)."""
        job = render_job(
            ask.bucket,
            ask.key,
            ask.query,
            ask.transform,
            ask.source,
            accept=ask.accept,
            etag=normalise_etag(original.etag) or None,
            prefix=self.settings.derivative_prefix,
        )
        full = await self.budgets.queue_full()
        if full is not None:
            ask.trace.set(budget="queue")
            raise Fallback(full)
        try:
            with ask.trace.step("enqueue"):
                sent = await self.queue.enqueue(job)
        except QueueError as error:
            raise Fallback(f"{decision.reason}; {error}") from error
        if sent.outcome == "failed":
            raise Fallback(sent.reason)
        ask.trace.set(outcome="queued", reason=f"{decision.reason}; {sent.reason}",
                      enqueued=sent.outcome == "queued", task_id=sent.task_id)  # fmt: skip
        return mark(events.forward(ask.request), "queued")  # the original, as asked

    async def _render(self, ask: Ask, target: Derivative, data: bytes, etag: str | None) -> None:
        """Render in a worker thread (the loop keeps serving), then store the derivative."""
        from edge import sizeset

        trace = ask.trace
        with trace.step("render"):
            # the asked derivative, + the size set's missing ones; within the deadline
            rendered = await deadline.bound(sizeset.render(self, ask, target, data, etag), "render")
        with trace.step("s3_put"):
            try:
                await self.storage.put(ask.bucket, target.key, rendered.data, put_fields(target.format, etag))
            except StorageError as error:
                raise Fallback(str(error)) from error
        trace.set(size=f"{rendered.width}x{rendered.height}", bytes=len(rendered.data),
                  render_ms=dict(rendered.timings))  # fmt: skip

    # origin-response --------------------------------------------------------------

    async def origin_response(self, event: Any) -> dict[str, Any]:
        """S3's response, with a short lifetime for fallbacks and the diagnostic header; never raises."""
        return response.origin_response(event, self.config)


__all__ = ["DIAGNOSTIC_HEADER", "OUTCOME_HEADER", "Edge"]
