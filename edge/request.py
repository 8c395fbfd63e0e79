"""origin-request from the URL alone: which pass this is, and every answer that needs no S3.

Behind an origin group (docs/edge.md, "Two passes") the function runs once per
origin CloudFront tries. ``route`` reads the event and:

- names the pass from the origin's custom header ``x-tachyon-origin``
  (``primary`` / ``failover``); without it the distribution has one origin;
- on the failover pass, recovers the viewer's uri and query when CloudFront
  handed over the primary pass's rewritten request (``recover``);
- answers what the URL decides in every pass: pass-through (not an image path,
  another method, a key that is not UTF-8, no transform argument) and the 400
  for an invalid argument;
- on the primary pass with ``freshness = "purge"``, points the request at the
  derivative key the URL names (``rewrite``): S3 serves it, or answers 403/404
  and CloudFront fails over.

Anything else comes back as an ``Ask`` for ``edge.flow.Edge.serve`` (S3, the
queue, rendering). This module and what it imports hold no S3 or queue client,
no Pillow and no pydantic: they are all a primary pass loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.args import parse_query
from core.errors import InvalidArgument
from core.formats import format_of_path
from core.keys import Derivative, name_derivative, request_key
from edge import events
from edge.events import DIAGNOSTIC_HEADER, ORIGIN_HEADER, OUTCOME_HEADER, REQUEST_HEADER, MalformedEvent
from edge.trace import Trace

if TYPE_CHECKING:
    from core.transform import Transform
    from core.types import Outcome, OutputFormat, Pass
    from edge.config import EdgeConfig
    from edge.events import Request, Response

PASSES: dict[str, Pass] = {"primary": "primary", "failover": "failover"}


class Ask:
    """One derivative request, once the URL has been read.

    A plain slotted class rather than a dataclass: the Lambda builds this module
    on every cold start, and the dataclass machinery costs more than the class.
    """

    __slots__ = ("accept", "bucket", "key", "passed", "query", "request", "source", "trace", "transform")

    def __init__(
        self,
        request: Request,
        trace: Trace,
        *,
        key: str,
        source: OutputFormat,
        transform: Transform,
        query: str,
        accept: str | None,
        passed: Pass | None = None,
    ) -> None:
        self.request = request
        self.trace = trace
        self.key = key  # the original's S3 key
        self.source = source  # the format the original's extension names
        self.transform = transform
        self.query = query
        self.accept = accept  # the Accept value, when auto-format is on
        self.passed = passed  # the origin of an origin group this request goes to
        self.bucket = ""  # set by ``edge.flow`` (settings, else the S3 origin's domain)

    def name(self, *, animated: bool, prefix: str) -> Derivative:
        """This request's derivative, once it is known whether the original is animated."""
        return name_derivative(
            self.key, self.transform, self.source, animated=animated, accept=self.accept, prefix=prefix
        )

    def derivative_key(self, prefix: str) -> str:
        """The key this request names, known before the original is read (``core.keys.request_key``)."""
        return request_key(self.key, self.transform, self.source, accept=self.accept, prefix=prefix)


def route(event: Any, config: EdgeConfig) -> Response | Ask:
    """The answer the URL alone decides (request to forward, or a 400), else the ``Ask``.

    Never raises. A decided answer's log line is written here; an ``Ask`` carries
    its ``Trace`` on to ``Edge.serve``, which writes it.
    """
    request = events.find_request(event)
    if request is None:
        trace = Trace("origin-request")
        trace.set(outcome="passthrough", reason="malformed event: no request")
        trace.emit()
        return events.generated(400, "Bad Request", "Bad request", {"Content-Type": "text/plain"})
    trace = Trace("origin-request", events.request_id(event))
    passed = pass_of(request)
    trace.set(uri=request.get("uri"), **({"pass": passed} if passed else {}))
    try:
        if passed == "failover":
            recover(request, config)
        found = read(request, trace, config, passed)
        if isinstance(found, Ask) and passed == "primary" and config.freshness == "purge":
            found = rewrite(found, config)
    except MalformedEvent as error:
        trace.set(outcome="passthrough", reason=str(error))
        found = request  # unchanged: we cannot tell what it asks for
    except Exception as error:  # a failure of ours: the original, short-lived
        uri = request.get("uri")
        trace.set(outcome="fallback", reason=repr(error)[:500])
        found = mark(events.forward(request, uri if isinstance(uri, str) else None), "fallback")
    if isinstance(found, Ask):
        return found
    trace.emit()
    return found


def pass_of(request: Request) -> Pass | None:
    """The origin this request goes to, from its ``x-tachyon-origin`` custom header."""
    return PASSES.get((events.origin_header(request, ORIGIN_HEADER) or "").strip().lower())


def read(request: Request, trace: Trace, config: EdgeConfig, passed: Pass | None = None) -> Response | Ask:
    """What the request asks for: a pass-through or a 400 when the URL decides, else an ``Ask``."""
    uri = request.get("uri")
    query = request.get("querystring") or ""
    if not isinstance(uri, str) or not isinstance(query, str):
        raise MalformedEvent("request has no string uri/querystring")
    key = events.origin_path(request) + events.original_key(uri)
    source = format_of_path(key)
    if source is None:
        return passthrough(request, trace, "not an image path")
    if request.get("method", "GET") not in ("GET", "HEAD"):
        return passthrough(request, trace, f"method {request.get('method')}")
    if not _encodable(key):
        return passthrough(request, trace, "key is not valid UTF-8")
    if config.signing_keys:
        refused = _unsigned(uri, query, config)
        if refused is not None:
            trace.set(outcome="forbidden", reason=refused)
            return _refusal(403, "Forbidden", refused, "forbidden", config)
    try:
        transform = parse_query(query, config)
        if config.size_policy != "off":
            from core.sizepolicy import Redirect, decide

            decided = decide(query, transform, config)
            if isinstance(decided, Redirect):
                trace.set(outcome="redirect", reason="size outside allowed_sizes")
                return _redirect(uri, decided.query, config)
            transform, query = decided
    except InvalidArgument as invalid:
        trace.set(outcome="invalid", reason=invalid.reason)
        return _refusal(400, "Bad Request", invalid.reason, "invalid", config)
    if transform is None:
        return passthrough(request, trace, "no transform argument")
    accept = events.header(request, "accept") if config.auto_format else None
    return Ask(
        request, trace, key=key, source=source, transform=transform, query=query, accept=accept, passed=passed
    )


def rewrite(ask: Ask, config: EdgeConfig) -> Request:
    """The primary pass: the request pointed at the derivative key, S3 not asked.

    If the derivative exists S3 serves it (``x-tachyon: hit``); if not, S3's
    403/404 makes CloudFront send the request to the failover origin. The
    viewer's ``uri?query`` rides along in ``REQUEST_HEADER`` for that pass.
    """
    request = ask.request
    viewer = f"{request['uri']}?{request.get('querystring') or ''}"  # as asked (ask.query may be a preset's)
    if viewer.isascii() and viewer.isprintable():
        events.set_header(request, REQUEST_HEADER, viewer)
    key = ask.derivative_key(config.derivative_prefix)
    ask.trace.set(outcome="hit", key=key)
    return mark(events.rewrite_to_key(request, key), "hit")


def recover(request: Request, config: EdgeConfig) -> None:
    """On the failover pass: put back the viewer's uri and query if this is the primary's rewrite.

    Whether CloudFront hands the failover pass the viewer's request or the one
    the primary pass returned is not documented; the latter has a derivative
    uri and no query. The recorded ``REQUEST_HEADER`` is restored only when its
    rewrite is exactly the uri at hand, so the header can never make the pass
    serve anything else than what the viewer's URL names.
    """
    recorded = events.header(request, REQUEST_HEADER)
    uri = request.get("uri")
    if not recorded or not isinstance(uri, str) or not uri.startswith("/" + config.derivative_prefix):
        return
    viewer_uri, _, viewer_query = recorded.partition("?")
    headers = dict(request.get("headers") or {})  # read() marks its copy, not the request
    asked = dict(request, uri=viewer_uri, querystring=viewer_query, headers=headers)
    try:
        found = read(asked, Trace("origin-request"), config)
    except MalformedEvent:
        return
    if isinstance(found, Ask) and events.uri_for_key(found.derivative_key(config.derivative_prefix)) == uri:
        request.update(uri=viewer_uri, querystring=viewer_query)


def passthrough(request: Request, trace: Trace, reason: str) -> Request:
    """The original as asked, query cleared (not ours to transform, or not there)."""
    trace.set(outcome="passthrough", reason=reason)
    return mark(events.forward(request), "passthrough")


def mark(request: Request, outcome: Outcome) -> Request:
    """Name the path taken on the request, for origin-response (which sees the request as sent)."""
    events.set_header(request, OUTCOME_HEADER, outcome)
    return request


def _refusal(status: int, phrase: str, reason: str, outcome: Outcome, config: EdgeConfig) -> Response:
    """A short-lived answer with a one-line reason: an invalid argument (400), a bad signature (403)."""
    return events.generated(
        status,
        phrase,
        reason,
        {
            "Content-Type": "text/plain; charset=utf-8",
            "Cache-Control": f"public, max-age={config.error_ttl}",
            DIAGNOSTIC_HEADER: outcome,
        },
    )


def _redirect(uri: str, query: str, config: EdgeConfig) -> Response:
    """A 302 to the nearest allowed sizes (``size_outside = "redirect"``), short-lived as a refusal."""
    headers = {
        "Location": f"{uri}?{query}",
        "Cache-Control": f"public, max-age={config.error_ttl}",
        DIAGNOSTIC_HEADER: "redirect",
    }
    return events.generated(302, "Found", "", headers)


def _unsigned(uri: str, query: str, config: EdgeConfig) -> str | None:
    """Why a request for a derivative is refused under signed URLs, or None (docs/security.md)."""
    from core.signing import asks_for_a_derivative, verify  # hmac and hashlib, only when signing is on

    return verify(uri, query, config.signing_keys) if asks_for_a_derivative(query) else None


def _encodable(key: str) -> bool:
    """Whether a key is valid UTF-8 text (a ``%FF`` in the URI is not)."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
