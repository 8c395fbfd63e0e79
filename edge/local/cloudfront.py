"""A local CloudFront: an aiohttp server in front of S3 that runs the edge's two triggers.

Per request it does what a distribution with Lambda@Edge on origin-request and
origin-response does: look the URL up in its cache, collapse concurrent misses
for one cache key (``edge.local.collapse``), build the origin-request event as
CloudFront would, fetch the (possibly rewritten) key from S3 and, behind an
origin group (``edge.local.origins``, the default), fail over on 403/404 with a
second origin-request run for the failover origin; then run origin-response
and cache by ``max-age``. Only the headers a distribution forwards reach the
origin. docs/local.md describes it.
"""

from __future__ import annotations

import base64
import copy
import http
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
from botocore.exceptions import NoCredentialsError
from multidict import CIMultiDict

from core.formats import accepted
from core.settings import Settings
from edge.events import DIAGNOSTIC_HEADER, display_case, original_key
from edge.events import origin_path as key_prefix
from edge.local.cache import ResponseCache, cache_ttl
from edge.local.collapse import Collapser
from edge.local.origins import (
    FailoverRequest,
    Origin,
    OriginGroup,
    origin_domain,
    origin_group,
    single_origin,
)
from edge.local.seed import s3_client
from edge.local.uri import MAX_REQUEST_BYTES, invalid_uri_body, is_utf8_key, result_error, too_long
from edge.local.viewer import ViewerFunction, apply, engine_available, viewer_event

log = logging.getLogger("edge.local")

Event = dict[str, Any]
HeaderLists = dict[str, list[dict[str, str]]]

HEALTH_PATH = "/_tachyon/health"
#: The User-Agent CloudFront sends to origins (and the local one to S3, so S3's log tells it apart).
CLOUDFRONT_AGENT = "Amazon CloudFront"
DISTRIBUTION_ID = "ELOCALTACHYON"
_HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
        "upgrade", "proxy-authenticate", "proxy-authorization", "content-length",
    }
)  # fmt: skip


class Triggers(Protocol):
    """The two Lambda@Edge functions, as ``edge.flow.Edge`` implements them."""

    async def origin_request(self, event: Event) -> Event: ...

    async def origin_response(self, event: Event) -> Event: ...


@dataclass(frozen=True, slots=True)
class Answer:
    """A response on its way to the viewer."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    has_body: bool = True

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


def header_lists(pairs: list[tuple[str, str]]) -> HeaderLists:
    """HTTP header pairs → Lambda@Edge headers: lower-case name → [{key, value}, ...]."""
    out: HeaderLists = {}
    for name, value in pairs:
        out.setdefault(name.lower(), []).append({"key": name, "value": value})
    return out


def header_pairs(lists: HeaderLists) -> list[tuple[str, str]]:
    """Lambda@Edge headers → HTTP header pairs, keeping the given case."""
    return [
        (item.get("key") or display_case(name), item["value"])
        for name, items in lists.items()
        for item in items
    ]


def config_block(event_type: str, distribution: str, request_id: str) -> dict[str, str]:
    return {
        "distributionDomainName": distribution,
        "distributionId": DISTRIBUTION_ID,
        "eventType": event_type,
        "requestId": request_id,
    }


def request_event(
    *,
    method: str,
    raw_path: str,
    viewer_headers: list[tuple[str, str]],
    client_ip: str,
    bucket: str,
    region: str,
    distribution: str,
    forward: frozenset[str] = frozenset(),
    request_id: str | None = None,
    origin: Origin | None = None,
) -> Event:
    """The origin-request event CloudFront sends for this viewer request.

    ``raw_path`` is the request target as received (``/a%20b.jpg?w=300``);
    ``forward`` names the viewer headers the cache/origin-request policy passes on;
    ``origin`` is the origin it goes to (default: the bucket as the only origin).
    """
    uri, _, querystring = raw_path.partition("?")
    forwarded_for = [v for k, v in viewer_headers if k.lower() == "x-forwarded-for"]
    headers: list[tuple[str, str]] = [("Host", origin_domain(bucket))]
    headers += [(k, v) for k, v in viewer_headers if k.lower() in forward and k.lower() not in _HOP_BY_HOP]
    headers += [
        ("User-Agent", CLOUDFRONT_AGENT),
        ("Via", f"2.0 {DISTRIBUTION_ID.lower()}.cloudfront.net (CloudFront)"),
        ("X-Forwarded-For", ", ".join([*forwarded_for, client_ip])),
    ]
    return {
        "Records": [
            {
                "cf": {
                    "config": config_block("origin-request", distribution, request_id or new_request_id()),
                    "request": {
                        "clientIp": client_ip,
                        "method": method,
                        "uri": uri or "/",
                        "querystring": querystring,
                        "headers": header_lists(headers),
                        "origin": (origin or single_origin(bucket, region)).described(),
                    },
                }
            }
        ]
    }


def failover_event(first: Event, returned: Event, origin: Origin, sent: FailoverRequest) -> Event:
    """The origin-request event of the failover origin: the same viewer request, routed there.

    ``sent`` chooses what CloudFront's "same request" is (not documented): the
    request the first run was given (``viewer``) or the one it returned (``rewritten``).
    """
    cf = first["Records"][0]["cf"]
    request = copy.deepcopy(cf["request"] if sent == "viewer" else returned)
    request["origin"] = origin.described()
    return {"Records": [{"cf": {"config": dict(cf["config"]), "request": request}}]}


def response_event(request_event_: Event, origin_request: Event, origin: Answer) -> Event:
    """The origin-response event: S3's status and headers, and the request as sent to S3."""
    config = dict(request_event_["Records"][0]["cf"]["config"], eventType="origin-response")
    return {
        "Records": [
            {
                "cf": {
                    "config": config,
                    "request": origin_request,
                    "response": {
                        "status": str(origin.status),
                        "statusDescription": reason(origin.status),
                        "headers": header_lists(origin.headers),
                    },
                }
            }
        ]
    }


def new_request_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(42)).decode()


def reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def cloudfront_error(status: int, body: str) -> Answer:
    """A response CloudFront itself makes (function errors, methods it refuses)."""
    return Answer(status, [("Content-Type", "text/plain; charset=utf-8")], body.encode())


class S3Origin:
    """GET/HEAD of one key from the bucket, raw: S3's own status, headers and body.

    Requests are presigned (SigV4, path-style for a custom endpoint) and sent
    with aiohttp, so what the edge sees is exactly what S3 (or MinIO, or
    moto) answered — the way CloudFront with Origin Access Control sees it.
    """

    def __init__(self, settings: Settings, bucket: str, http_session: aiohttp.ClientSession) -> None:
        self.bucket = bucket
        self.endpoint = settings.s3_endpoint
        self.http = http_session
        self._signer: Any = s3_client(settings)

    def url(self, method: str, key: str) -> str:
        """A presigned URL for ``key`` (unsigned when no credentials are configured)."""
        operation = "head_object" if method == "HEAD" else "get_object"
        try:
            return str(
                self._signer.generate_presigned_url(
                    operation, Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=300
                )
            )
        except NoCredentialsError:
            base = self.endpoint or f"https://{origin_domain(self.bucket)}"
            return f"{base.rstrip('/')}/{self.bucket}/{quote(key, safe='/~')}"

    async def fetch(self, method: str, key: str) -> Answer:
        """S3's answer to ``method`` on ``key``, body included for GET."""
        if not is_utf8_key(key):  # S3 refuses the path before looking for a key (edge/local/uri.py)
            uri = "/" + quote(key, safe="/", errors="surrogateescape")
            body = invalid_uri_body(uri)
            headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
            return Answer(400, [*headers, ("Server", "AmazonS3")], body, has_body=method == "GET")
        async with self.http.request(
            method,
            self.url(method, key),
            headers={"User-Agent": CLOUDFRONT_AGENT},
            allow_redirects=False,
            auto_decompress=False,
        ) as response:
            body = await response.read() if method == "GET" else b""
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers]
            return Answer(response.status, headers, body, has_body=method == "GET")


@dataclass(frozen=True, slots=True)
class Missed:
    """What a cache miss got: the answer, and whether the failover origin gave it."""

    answer: Answer
    failover: bool = False


@dataclass(frozen=True, slots=True)
class Served:
    """One answered request, as logged: the edge's outcome comes from its ``x-tachyon`` header."""

    method: str
    target: str
    status: int
    outcome: str
    cache: str
    ms: float
    failover: bool = False  # the primary origin answered 403/404 and the failover origin was asked


RequestLogger = Callable[[Served], None]


def log_request(served: Served) -> None:
    """One line per request: method, path, status, the edge's outcome, x-cache, milliseconds."""
    s = served
    via = " (failover)" if s.failover else ""
    log.info("%s %s %d %s %s %.1f ms%s", s.method, s.target, s.status, s.outcome or "-", s.cache, s.ms, via)


class LocalCloudFront:
    """The distribution: cache, triggers, origin. ``app()`` is its aiohttp application."""

    def __init__(
        self,
        settings: Settings,
        triggers: Triggers | None = None,
        *,
        bucket: str | None = None,
        cache: ResponseCache | None = None,
        on_request: RequestLogger = log_request,
        origins: Origin | OriginGroup | None = None,
        failover_request: FailoverRequest = "viewer",
    ) -> None:
        self.settings = settings
        name = bucket or settings.bucket
        if not name:
            raise ValueError("the local CloudFront needs a bucket (settings.bucket or bucket=)")
        self.bucket = name
        self._triggers = triggers
        self.cache = cache if cache is not None else ResponseCache()  # an empty cache is falsy
        self.on_request = on_request
        #: The bucket as an origin group (docs/deploy.md), unless one origin is given.
        self.origins = origins if origins is not None else origin_group(name, settings.region)
        self.failover_request: FailoverRequest = failover_request
        self.collapser: Collapser[Missed] = Collapser()
        self.forward = frozenset({"accept"}) if settings.auto_format else frozenset()
        #: The viewer-request CloudFront Function (edge/viewer/function.js), on unless turned off.
        self.viewer: ViewerFunction | None = None
        if settings.viewer_function and engine_available():
            self.viewer = ViewerFunction()
        elif settings.viewer_function:
            log.warning("viewer function off: its engine (quickjs, CPython <= 3.12) is not installed")
        self._http: aiohttp.ClientSession | None = None
        self._origin: S3Origin | None = None
        self.extra_routes: list[tuple[str, str, Callable[[aiohttp.web.Request], Awaitable[Any]]]] = []

    @property
    def triggers(self) -> Triggers:
        """The edge's triggers, built on first use (the edge's code is imported lazily)."""
        if self._triggers is None:
            from edge.flow import Edge

            self._triggers = Edge(self.settings)
        return self._triggers

    def app(self) -> aiohttp.web.Application:
        """The aiohttp application serving every path (GET and HEAD) through the distribution."""
        from aiohttp import web

        # aiohttp's own limit on the request line (8,190 bytes) would answer first; CloudFront's is larger.
        app = web.Application(handler_args={"max_line_size": MAX_REQUEST_BYTES})
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        app.router.add_get(HEALTH_PATH, self._health)
        for method, path, route in self.extra_routes:
            app.router.add_route(method, path, route)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def _start(self, _app: aiohttp.web.Application) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        self._origin = S3Origin(self.settings, self.bucket, self._http)
        self.triggers  # noqa: B018 — import and build the edge now, not on the first request

    async def _stop(self, _app: aiohttp.web.Application) -> None:
        if self._http is not None:
            await self._http.close()
        close = getattr(self._triggers, "close", None) or getattr(self._triggers, "aclose", None)
        if close is not None:
            result = close()
            if isinstance(result, Awaitable):
                await result

    async def _health(self, _request: aiohttp.web.Request) -> aiohttp.web.Response:
        from aiohttp import web

        return web.Response(text="ok\n")

    def cache_key(self, raw_path: str, headers: CIMultiDict[str] | Any) -> str:
        """The URL, plus the negotiated format when the format depends on ``Accept``."""
        if not self.settings.auto_format:
            return raw_path
        return f"{raw_path}#format={accepted(headers.get('Accept')) or ''}"

    async def handle(self, request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        """One viewer request, hit or miss."""
        started = time.perf_counter()
        failover = False
        if request.method not in ("GET", "HEAD"):
            answer, state = cloudfront_error(403, "This distribution only allows GET and HEAD.\n"), "Error"
        elif too_long(request.raw_path):
            answer, state = cloudfront_error(414, "Request-URI Too Large\n"), "Error"
        elif (viewed := self._viewer_request(request)) is None:
            answer, state = (
                cloudfront_error(503, "The CloudFront function failed.\n"),
                "Error",
            )
        else:
            target, viewer = viewed
            key = self.cache_key(target, CIMultiDict(viewer))
            cached = self.cache.get(key, need_body=request.method == "GET")
            if cached is not None:
                age = int(self.cache.clock() - (cached.expires - self._ttl_of(cached.headers)))
                answer = Answer(cached.status, [*cached.headers, ("Age", str(max(age, 0)))], cached.body)
                state = "Hit"
            else:
                missed, shared = await self.collapser.run(
                    (key, request.method),
                    lambda: self._miss(request, target, viewer),
                    lambda m: self._ttl(m.answer) > 0,
                )
                answer, failover = missed.answer, missed.failover
                state = "Hit" if shared else "Miss"  # a collapsed request is answered from the first's fetch
                if not shared:
                    self.cache.put(key, answer.status, answer.headers, answer.body,
                                   ttl=self._ttl(answer), has_body=answer.has_body)  # fmt: skip
        response = await self._respond(request, answer, state)
        self.on_request(
            Served(
                request.method,
                request.raw_path,
                answer.status,
                answer.header(DIAGNOSTIC_HEADER) or "",
                state,
                (time.perf_counter() - started) * 1000,
                failover,
            )
        )
        return response

    @staticmethod
    def _ttl(answer: Answer) -> int:
        return cache_ttl(answer.header("Cache-Control")) if answer.status < 500 else 0

    @staticmethod
    def _ttl_of(headers: tuple[tuple[str, str], ...]) -> int:
        return cache_ttl(next((v for k, v in headers if k.lower() == "cache-control"), None))

    def viewer_request(self, request: aiohttp.web.Request) -> tuple[str, list[tuple[str, str]]]:
        """The request target and headers after the viewer-request function (as received without one)."""
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers]
        if self.viewer is None:
            return request.raw_path, headers
        event = viewer_event(request.method, request.raw_path, headers, request.remote or "127.0.0.1")
        result = self.viewer.handle(copy.deepcopy(event))
        target, headers = apply(result, headers)
        untouched = list((result.get("querystring") or {}).items())
        if untouched == list(event["request"]["querystring"].items()):  # sent on as received
            _, mark, query = request.raw_path.partition("?")
            target = str(result.get("uri") or "/") + mark + query
        return target, headers

    def _viewer_request(self, request: aiohttp.web.Request) -> tuple[str, list[tuple[str, str]]] | None:
        try:
            return self.viewer_request(request)
        except Exception:  # CloudFront answers 503 when a function fails
            log.exception("viewer-request function failed for %s", request.raw_path)
            return None

    async def _miss(self, request: aiohttp.web.Request, target: str, viewer: list[tuple[str, str]]) -> Missed:
        """Run the triggers and the origin(s) for a request the cache could not answer."""
        group = self.origins if isinstance(self.origins, OriginGroup) else None
        first = group.primary if group is not None else self.origins
        assert isinstance(first, Origin)
        event = request_event(
            method=request.method,
            raw_path=target,
            viewer_headers=viewer,
            client_ip=request.remote or "127.0.0.1",
            bucket=self.bucket,
            region=self.settings.region,
            distribution=request.host,
            forward=self.forward,
            origin=first,
        )
        sent = await self._origin_request(event, request)
        if isinstance(sent, Answer):
            return Missed(sent)
        origin = await self._fetch(sent, request)
        failover = group is not None and group.fails_over(request.method, origin.status if origin else None)
        if group is not None and failover:
            event = failover_event(event, sent, group.failover, self.failover_request)
            sent = await self._origin_request(event, request)
            if isinstance(sent, Answer):
                return Missed(sent, failover=True)
            origin = await self._fetch(sent, request)
        if origin is None:
            return Missed(
                cloudfront_error(502, "CloudFront could not connect to the origin (S3).\n"), failover
            )
        return Missed(await self._origin_response(event, sent, origin, request), failover)

    async def _origin_request(self, event: Event, request: aiohttp.web.Request) -> Event | Answer:
        """The origin-request function's result: the request to send on, or a response to give."""
        received = event["Records"][0]["cf"]["request"]
        try:  # the function gets its own copy, as from Lambda: the event stays as CloudFront built it
            result = await self.triggers.origin_request(copy.deepcopy(event))
        except Exception:
            log.exception("origin-request function failed for %s", request.raw_path)
            return cloudfront_error(500, "The Lambda function (origin-request) raised an error.\n")
        if not isinstance(result, dict) or not ("status" in result or "uri" in result):
            log.error("origin-request function returned an invalid result: %r", result)
            return cloudfront_error(502, "The Lambda function (origin-request) returned an invalid result.\n")
        if "status" in result:
            return self._generated_answer(result)
        invalid = result_error(received, result)
        if invalid is not None:
            log.error("origin-request function returned an invalid request: %s", invalid)
            return cloudfront_error(502, "The Lambda function (origin-request) returned an invalid result.\n")
        return result

    async def _fetch(self, sent: Event, request: aiohttp.web.Request) -> Answer | None:
        """S3's answer to the request as the function sent it on; None when S3 cannot be reached."""
        assert self._origin is not None
        method = str(sent.get("method") or request.method)
        try:
            return await self._origin.fetch(method, key_prefix(sent) + original_key(str(sent["uri"])))
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("origin unreachable for %s: %r", request.raw_path, error)
            return None

    async def _origin_response(
        self, event: Event, sent: Event, origin: Answer, request: aiohttp.web.Request
    ) -> Answer:
        """origin-response on the origin's answer (the one that reaches the viewer)."""
        try:
            final = await self.triggers.origin_response(response_event(event, sent, origin))
        except Exception:
            log.exception("origin-response function failed for %s", request.raw_path)
            return cloudfront_error(500, "The Lambda function (origin-response) raised an error.\n")
        if not isinstance(final, dict) or "status" not in final:
            log.error("origin-response function returned an invalid result: %r", final)
            return cloudfront_error(
                502, "The Lambda function (origin-response) returned an invalid result.\n"
            )
        headers = header_pairs(final.get("headers") or {})
        return Answer(int(final["status"]), headers, origin.body, has_body=origin.has_body)

    @staticmethod
    def _generated_answer(result: Event) -> Answer:
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("bodyEncoding") == "base64" else str(body).encode()
        return Answer(int(result["status"]), header_pairs(result.get("headers") or {}), data)

    async def _respond(
        self, request: aiohttp.web.Request, answer: Answer, state: str
    ) -> aiohttp.web.StreamResponse:
        from aiohttp import web

        headers: CIMultiDict[str] = CIMultiDict()
        length: str | None = None
        for name, value in answer.headers:
            if name.lower() == "content-length":
                length = value
            elif name.lower() not in _HOP_BY_HOP:
                headers.add(name, value)
        headers["X-Cache"] = f"{state} from cloudfront"
        headers["Via"] = f"1.1 {DISTRIBUTION_ID.lower()}.cloudfront.net (CloudFront)"
        etag = answer.header("ETag")
        if (
            answer.status == 200
            and etag is not None
            and etag in {t.strip() for t in request.headers.get("If-None-Match", "").split(",")}
        ):
            return web.Response(status=304, headers=headers)
        if request.method == "HEAD":
            if length is None and answer.has_body:
                length = str(len(answer.body))
            response = web.StreamResponse(status=answer.status, headers=headers)
            if length is not None:
                response.content_length = int(length)
            await response.prepare(request)
            await response.write_eof()
            return response
        return web.Response(status=answer.status, headers=headers, body=answer.body)
