"""The edge's request flow, as an object the Lambda handlers and the local CloudFront share.

``Edge(settings)`` owns its S3 client and its Redis lock client (both made
lazily inside the running event loop and reused); ``await edge.origin_request(event)``
and ``await edge.origin_response(event)`` are safe to await concurrently and
never raise. CPU work (probing, rendering) runs in a thread so the loop keeps
serving other requests.

origin-request, in order:

1. not an image path, or no recognised argument → pass through (query cleared);
2. invalid argument → generated 400, plain text, short cache lifetime;
3. HEAD the derivative candidate(s) and the original together (one round trip):
   original absent (404/403) → pass through, so S3 answers as usual;
   a derivative made from the original's current ETag → hit, ``uri`` rewritten;
4. miss: ``edge.policy`` decides from the size, then from the header:
   small static → render here, PutObject, rewrite; large or animated → enqueue
   once and serve the original, marked as a fallback;
5. any failure of ours → the original, marked as a fallback, reason logged.

The request carries the path taken in ``x-tachyon-outcome``; origin-response
reads it back, gives fallbacks a short ``Cache-Control`` so the derivative
replaces them soon, and names the path in ``x-tachyon``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.args import OutputFormat, Transform, parse_query
from core.errors import ImageRefused, InvalidArgument
from core.formats import candidate_formats, format_of_path, output_format
from core.jobs import RenderJob, job_token
from core.keys import derivative_key
from core.objects import is_fresh, normalise_etag, put_fields
from edge import events
from edge.events import DIAGNOSTIC_HEADER, OUTCOME_HEADER, MalformedEvent, Request
from edge.policy import by_image, by_size
from edge.queue import JobQueue, QueueError
from edge.s3 import S3Storage, StorageError
from edge.trace import Trace

if TYPE_CHECKING:
    from core.settings import Settings

HIT, RENDERED, QUEUED, FALLBACK, PASSTHROUGH, INVALID = (
    "hit", "rendered", "queued", "fallback", "passthrough", "invalid",
)  # fmt: skip
#: Outcomes whose response is the original standing in for a derivative.
SHORT_LIVED = frozenset({QUEUED, FALLBACK})


@dataclass(frozen=True, slots=True)
class Ask:
    """One derivative request, once the URL has been read."""

    request: Request
    trace: Trace
    bucket: str
    key: str  # the original's S3 key
    source: OutputFormat  # the format the original's extension names
    transform: Transform
    query: str
    accept: str | None  # the Accept value, when auto-format is on


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
        self.limits = settings.limits()
        self.storage = S3Storage(settings, s3)
        self.queue = JobQueue(settings, redis=redis, app=celery_app)

    async def close(self) -> None:
        """Release the clients this edge made."""
        await self.storage.close()
        await self.queue.close()

    # origin-request ---------------------------------------------------------------

    async def origin_request(self, event: Any) -> dict[str, Any]:
        """The request to send to S3 (possibly rewritten) or a generated 400; never raises."""
        request = events.find_request(event)
        if request is None:
            trace = Trace("origin-request")
            trace.set(outcome=PASSTHROUGH, reason="malformed event: no request")
            trace.emit()
            return events.generated(400, "Bad Request", "Bad request", {"Content-Type": "text/plain"})
        trace = Trace("origin-request", _request_id(event))
        uri = request.get("uri")
        trace.set(uri=uri)
        try:
            result = await self._route(request, trace)
        except MalformedEvent as error:
            trace.set(outcome=PASSTHROUGH, reason=str(error))
            result = request  # unchanged: we cannot tell what it asks for
        except Exception as error:
            reason = error.args[0] if isinstance(error, Fallback | ImageRefused) else repr(error)
            trace.set(outcome=FALLBACK, reason=str(reason)[:500])
            result = self._mark(events.forward(request, uri if isinstance(uri, str) else None), FALLBACK)
        trace.emit()
        return result

    async def _route(self, request: Request, trace: Trace) -> dict[str, Any]:
        uri = request.get("uri")
        query = request.get("querystring") or ""
        if not isinstance(uri, str) or not isinstance(query, str):
            raise MalformedEvent("request has no string uri/querystring")
        key = events.origin_path(request) + events.original_key(uri)
        source = format_of_path(key)
        if source is None:
            return self._pass(request, trace, "not an image path")
        if request.get("method", "GET") not in ("GET", "HEAD"):
            return self._pass(request, trace, f"method {request.get('method')}")
        if not _encodable(key):
            return self._pass(request, trace, "key is not valid UTF-8")
        try:
            transform = parse_query(query, self.limits)
        except InvalidArgument as invalid:
            trace.set(outcome=INVALID, reason=invalid.reason)
            return events.generated(
                400,
                "Bad Request",
                invalid.reason,
                {
                    "Content-Type": "text/plain; charset=utf-8",
                    "Cache-Control": f"public, max-age={self.settings.error_ttl}",
                    "X-Tachyon": INVALID,
                },
            )
        if transform is None:
            return self._pass(request, trace, "no transform argument")
        bucket = self.settings.bucket or events.bucket_of(request)
        if not bucket:
            raise Fallback("no bucket: set TACHYON_BUCKET or use an S3 origin")
        accept = events.header(request, "accept") if self.settings.auto_format else None
        return await self._serve(Ask(request, trace, bucket, key, source, transform, query, accept))

    async def _serve(self, ask: Ask) -> dict[str, Any]:
        request, trace, bucket, key, transform = ask.request, ask.trace, ask.bucket, ask.key, ask.transform
        prefix = self.settings.derivative_prefix
        formats = candidate_formats(transform, ask.source, ask.accept)
        candidates = [derivative_key(key, transform, fmt, prefix) for fmt in formats]
        try:
            if self.storage.needs_client:  # first call only: credentials and the S3 model
                with trace.step("s3_client"):
                    await self.storage.client()
            with trace.step("s3_head"):
                *derived, original = await asyncio.gather(
                    *(self.storage.head(bucket, k) for k in [*candidates, key])
                )
        except StorageError as error:
            raise Fallback(str(error)) from error
        if original is None:
            return self._pass(request, trace, "original missing")
        for candidate, head in zip(candidates, derived, strict=True):
            if head is not None and is_fresh(head.metadata, original.etag):
                trace.set(outcome=HIT, key=candidate)
                return self._mark(events.rewrite_to_key(request, candidate), HIT)
        stale = any(head is not None for head in derived)
        trace.set(key=candidates[0], stale=stale)

        decision = by_size(original.size, self.settings)
        if decision is None:
            with trace.step("s3_get"):
                try:
                    got = await self.storage.get(bucket, key)
                except StorageError as error:
                    raise Fallback(str(error)) from error
            if got is None:
                return self._pass(request, trace, "original missing")
            data, head = got
            from core.processing import probe

            with trace.step("probe"):
                info = await asyncio.to_thread(probe, data, self.limits)
            decision = by_image(info, transform, self.settings)
            if decision.action == "render":
                fmt = output_format(transform, ask.source, animated=info.animated, accept=ask.accept)
                target = derivative_key(key, transform, fmt, prefix)
                await self._render(ask, target, fmt, data, head.etag)
                trace.set(outcome=RENDERED, key=target, reason=decision.reason)
                return self._mark(events.rewrite_to_key(request, target), RENDERED)
        if decision.action == "refuse":
            raise Fallback(decision.reason)

        token = job_token(bucket, key, transform, ask.accept, prefix)
        job = RenderJob(bucket, key, ask.query, ask.accept, normalise_etag(original.etag) or None)
        try:
            with trace.step("enqueue"):
                enqueued, why = await self.queue.enqueue(job, token)
        except QueueError as error:
            raise Fallback(f"{decision.reason}; {error}") from error
        if enqueued == "failed":
            raise Fallback(why)
        trace.set(outcome=QUEUED, reason=f"{decision.reason}; {why}", enqueued=enqueued == "queued")
        return self._mark(events.forward(request), QUEUED)  # the original, as asked

    async def _render(self, ask: Ask, target: str, fmt: OutputFormat, data: bytes, etag: str | None) -> None:
        """Render in a worker thread (the loop keeps serving), then store the derivative."""
        from core.processing import render_transform

        trace = ask.trace
        with trace.step("render"):
            rendered = await asyncio.to_thread(render_transform, data, ask.transform, fmt, self.limits)
        with trace.step("s3_put"):
            try:
                await self.storage.put(ask.bucket, target, rendered.data, put_fields(fmt, etag))
            except StorageError as error:
                raise Fallback(str(error)) from error
        trace.set(size=f"{rendered.width}x{rendered.height}", bytes=len(rendered.data))

    def _pass(self, request: Request, trace: Trace, reason: str) -> Request:
        trace.set(outcome=PASSTHROUGH, reason=reason)
        return self._mark(events.forward(request), PASSTHROUGH)

    @staticmethod
    def _mark(request: Request, outcome: str) -> Request:
        events.set_header(request, "X-Tachyon-Outcome", outcome)
        return request

    # origin-response --------------------------------------------------------------

    async def origin_response(self, event: Any) -> dict[str, Any]:
        """S3's response, with a short lifetime for fallbacks and the diagnostic header; never raises."""
        trace = Trace("origin-response", _request_id(event))
        response = events.find_response(event)
        if response is None:
            trace.set(outcome=PASSTHROUGH, reason="malformed event: no response")
            trace.emit()
            return events.generated(400, "Bad Request", "Bad request", {"Content-Type": "text/plain"})
        try:
            request = events.find_request(event) or {}
            outcome = events.header(request, OUTCOME_HEADER) or PASSTHROUGH
            status = str(response.get("status", ""))
            trace.set(outcome=outcome, uri=request.get("uri"), status=status)
            # 304 too: CloudFront revalidates an expired fallback and takes the lifetime from the 304.
            if outcome in SHORT_LIVED and (status.startswith("2") or status == "304"):
                events.set_header(response, "Cache-Control", f"public, max-age={self.settings.fallback_ttl}")
            events.set_header(response, "X-Tachyon", outcome)
        except Exception as error:  # a response we cannot read is returned as it came
            trace.set(reason=repr(error)[:500])
        trace.emit()
        return response


def _encodable(key: str) -> bool:
    """Whether a key is valid UTF-8 text (a ``%FF`` in the URI is not)."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _request_id(event: Any) -> str | None:
    try:
        value = events.cf_record(event).get("config", {}).get("requestId")
    except (MalformedEvent, AttributeError):
        return None
    return value if isinstance(value, str) else None


__all__ = ["DIAGNOSTIC_HEADER", "OUTCOME_HEADER", "Edge"]
