"""The edge's request flow, as an object the Lambda handlers and the local CloudFront share.

``Edge(settings)`` owns its S3 and lock-store clients (made lazily inside the
running loop, then reused); ``origin_request`` and ``origin_response`` are safe
to await concurrently and never raise. CPU work (probe, render) runs in a
thread. origin-request: pass through, 400, then ``_find_hit`` / ``_render_here``
/ ``_enqueue``, with the original as fallback for any failure of ours; the path
taken travels to origin-response in ``OUTCOME_HEADER``. docs/edge.md has the flow.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.args import parse_query
from core.errors import ImageRefused, InvalidArgument
from core.formats import format_of_path
from core.jobs import render_job
from core.keys import Derivative, candidates, name_derivative
from core.objects import is_fresh, normalise_etag, put_fields
from core.transform import Transform
from core.types import Outcome, OutputFormat
from edge import events
from edge.events import DIAGNOSTIC_HEADER, OUTCOME_HEADER, MalformedEvent, Request
from edge.policy import Decision, by_image, by_size
from edge.queue import JobQueue, QueueError
from edge.s3 import Head, S3Storage, StorageError
from edge.trace import Trace

if TYPE_CHECKING:
    from core.settings import Settings

#: Outcomes whose response is the original standing in for a derivative.
SHORT_LIVED: frozenset[Outcome] = frozenset({"queued", "fallback"})


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

    def name(self, *, animated: bool, prefix: str) -> Derivative:
        """This request's derivative, once it is known whether the original is animated."""
        return name_derivative(
            self.key, self.transform, self.source, animated=animated, accept=self.accept, prefix=prefix
        )


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
            trace.set(outcome="passthrough", reason="malformed event: no request")
            trace.emit()
            return events.generated(400, "Bad Request", "Bad request", {"Content-Type": "text/plain"})
        trace = Trace("origin-request", _request_id(event))
        uri = request.get("uri")
        trace.set(uri=uri)
        try:
            result = await self._route(request, trace)
        except MalformedEvent as error:
            trace.set(outcome="passthrough", reason=str(error))
            result = request  # unchanged: we cannot tell what it asks for
        except Exception as error:
            reason = error.args[0] if isinstance(error, Fallback | ImageRefused) else repr(error)
            trace.set(outcome="fallback", reason=str(reason)[:500])
            result = _mark(events.forward(request, uri if isinstance(uri, str) else None), "fallback")
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
            return _pass(request, trace, "not an image path")
        if request.get("method", "GET") not in ("GET", "HEAD"):
            return _pass(request, trace, f"method {request.get('method')}")
        if not _encodable(key):
            return _pass(request, trace, "key is not valid UTF-8")
        try:
            transform = parse_query(query, self.limits)
        except InvalidArgument as invalid:
            trace.set(outcome="invalid", reason=invalid.reason)
            return events.generated(
                400,
                "Bad Request",
                invalid.reason,
                {
                    "Content-Type": "text/plain; charset=utf-8",
                    "Cache-Control": f"public, max-age={self.settings.error_ttl}",
                    DIAGNOSTIC_HEADER: "invalid",
                },
            )
        if transform is None:
            return _pass(request, trace, "no transform argument")
        bucket = self.settings.bucket or events.bucket_of(request)
        if not bucket:
            raise Fallback("no bucket: set TACHYON_BUCKET or use an S3 origin")
        accept = events.header(request, "accept") if self.settings.auto_format else None
        return await self._serve(Ask(request, trace, bucket, key, source, transform, query, accept))

    async def _serve(self, ask: Ask) -> dict[str, Any]:
        """A hit, else a miss: render here or enqueue, as ``edge.policy`` decides."""
        found = await self._find_hit(ask)
        if found.original is None:
            return _pass(ask.request, ask.trace, "original missing")
        if found.hit is not None:
            return found.hit
        decision = by_size(found.original.size, self.settings)
        if decision is None:
            done = await self._render_here(ask)
            if not isinstance(done, Decision):
                return done  # rendered, or the original vanished meanwhile
            decision = done
        if decision.action == "refuse":
            raise Fallback(decision.reason)
        return await self._enqueue(ask, found, decision)

    async def _find_hit(self, ask: Ask) -> Lookup:
        """HEAD the candidate derivatives and the original at once (one round trip)."""
        prefix = self.settings.derivative_prefix
        named = candidates(ask.key, ask.transform, ask.source, accept=ask.accept, prefix=prefix)
        trace = ask.trace
        try:
            if self.storage.needs_client:  # first call only: credentials and the S3 model
                with trace.step("s3_client"):
                    await self.storage.client()
            with trace.step("s3_head"):
                *derived, original = await asyncio.gather(
                    *(self.storage.head(ask.bucket, k) for k in [*(d.key for d in named), ask.key])
                )
        except StorageError as error:
            raise Fallback(str(error)) from error
        if original is not None:
            for candidate, head in zip(named, derived, strict=True):
                if head is not None and is_fresh(head.metadata, original.etag):
                    trace.set(outcome="hit", key=candidate.key)
                    rewritten = _mark(events.rewrite_to_key(ask.request, candidate.key), "hit")
                    return Lookup(original, rewritten)
            # Until the bytes are read, a GIF's derivative may be either (static PNG, animated GIF).
            keys = {"key": named[0].key} if len(named) == 1 else {"keys": [d.key for d in named]}
            trace.set(**keys, stale=any(head is not None for head in derived))
        return Lookup(original, None)

    async def _render_here(self, ask: Ask) -> Decision | Request:
        """Download and probe the original; render a small static one here.

        Returns the rewritten request when rendered (or passed through when the
        original vanished), else the decision to queue or refuse.
        """
        trace = ask.trace
        with trace.step("s3_get"):
            try:
                got = await self.storage.get(ask.bucket, ask.key)
            except StorageError as error:
                raise Fallback(str(error)) from error
        if got is None:
            return _pass(ask.request, trace, "original missing")
        data, head = got
        from core.processing import probe

        with trace.step("probe"):
            info = await asyncio.to_thread(probe, data, self.limits)
        decision = by_image(info, ask.transform, self.settings, self.limits)
        if decision.action == "original":
            return _pass(ask.request, trace, decision.reason)
        target = ask.name(animated=info.animated, prefix=self.settings.derivative_prefix)
        if decision.action != "render":
            trace.set(key=target.key)  # the key the worker writes (an animated GIF's is a .gif)
            return decision
        await self._render(ask, target, data, head.etag)
        trace.set(outcome="rendered", key=target.key, reason=decision.reason)
        return _mark(events.rewrite_to_key(ask.request, target.key), "rendered")

    async def _enqueue(self, ask: Ask, found: Lookup, decision: Decision) -> Request:
        """Send one render job for the worker and serve the original meanwhile (queued)."""
        assert found.original is not None
        job = render_job(
            ask.bucket,
            ask.key,
            ask.query,
            ask.transform,
            ask.source,
            accept=ask.accept,
            etag=normalise_etag(found.original.etag) or None,
            prefix=self.settings.derivative_prefix,
        )
        try:
            with ask.trace.step("enqueue"):
                sent = await self.queue.enqueue(job)
        except QueueError as error:
            raise Fallback(f"{decision.reason}; {error}") from error
        if sent.outcome == "failed":
            raise Fallback(sent.reason)
        ask.trace.set(outcome="queued", reason=f"{decision.reason}; {sent.reason}",
                      enqueued=sent.outcome == "queued", task_id=sent.task_id)  # fmt: skip
        return _mark(events.forward(ask.request), "queued")  # the original, as asked

    async def _render(self, ask: Ask, target: Derivative, data: bytes, etag: str | None) -> None:
        """Render in a worker thread (the loop keeps serving), then store the derivative."""
        from core.processing import render_transform

        trace = ask.trace
        with trace.step("render"):
            rendered = await asyncio.to_thread(
                render_transform, data, ask.transform, target.format, self.limits
            )
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
        trace = Trace("origin-response", _request_id(event))
        response = events.find_response(event)
        if response is None:
            trace.set(outcome="passthrough", reason="malformed event: no response")
            trace.emit()
            return events.generated(400, "Bad Request", "Bad request", {"Content-Type": "text/plain"})
        try:
            request = events.find_request(event) or {}
            outcome = events.header(request, OUTCOME_HEADER) or "passthrough"
            status = str(response.get("status", ""))
            trace.set(outcome=outcome, uri=request.get("uri"), status=status)
            # 304 too: CloudFront revalidates an expired fallback and takes the lifetime from the 304.
            if outcome in SHORT_LIVED and (status.startswith("2") or status == "304"):
                events.set_header(response, "Cache-Control", f"public, max-age={self.settings.fallback_ttl}")
            events.set_header(response, DIAGNOSTIC_HEADER, outcome)
        except Exception as error:  # a response we cannot read is returned as it came
            trace.set(reason=repr(error)[:500])
        trace.emit()
        return response


def _pass(request: Request, trace: Trace, reason: str) -> Request:
    trace.set(outcome="passthrough", reason=reason)
    return _mark(events.forward(request), "passthrough")


def _mark(request: Request, outcome: Outcome) -> Request:
    """Name the path taken on the request, for origin-response (which sees the request as sent)."""
    events.set_header(request, OUTCOME_HEADER, outcome)
    return request


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
