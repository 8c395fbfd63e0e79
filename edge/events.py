"""Reading CloudFront Lambda@Edge events and building what the function returns.

CloudFront hands the function ``Records[0].cf`` with a ``request`` (and, on
origin-response, a ``response``). Headers are lower-case names mapping to lists
of ``{"key", "value"}``; ``querystring`` is raw, without ``?``; ``uri`` is the
percent-encoded path. Everything here is pure dict work, so the handler stays
a short flow and the rules about URIs and keys live in one place.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote

Request = dict[str, Any]
Response = dict[str, Any]

#: Request header set by origin-request and read back by origin-response (which
#: sees the request as sent to the origin): the path taken for this URL.
OUTCOME_HEADER = "x-tachyon-outcome"
#: Response header naming the path taken, for people debugging a distribution.
DIAGNOSTIC_HEADER = "x-tachyon"
#: Origin custom header that names the origin of an origin group: ``primary`` or
#: ``failover`` (docs/deploy.md). Without it the distribution has a single origin.
ORIGIN_HEADER = "x-tachyon-origin"
#: Request header set by the primary pass on the request it rewrites: the viewer's
#: ``uri?querystring``, so a failover pass handed that request can read what was asked.
REQUEST_HEADER = "x-tachyon-request"
_HEADER_CASE = {"etag": "ETag", "www-authenticate": "WWW-Authenticate"}

_S3_HOST = re.compile(r"^(?P<bucket>.+?)\.s3(?:[.-][a-z0-9.-]*)?\.amazonaws\.com(?:\.cn)?$")


class MalformedEvent(ValueError):
    """The event is not a CloudFront record of the expected shape."""


def cf_record(event: Any) -> dict[str, Any]:
    """``Records[0].cf`` of an event, or ``MalformedEvent``."""
    try:
        cf = event["Records"][0]["cf"]
    except (KeyError, IndexError, TypeError):
        raise MalformedEvent("no Records[0].cf in the event") from None
    if not isinstance(cf, dict):
        raise MalformedEvent("Records[0].cf is not an object")
    return cf


def _part(event: Any, name: str) -> dict[str, Any] | None:
    """``Records[0].cf.<name>`` if it is there and a dict, without judging the rest."""
    try:
        part = cf_record(event).get(name)
    except MalformedEvent:
        return None
    return part if isinstance(part, dict) else None


def find_request(event: Any) -> Request | None:
    """The request of an event if there is one, without judging the rest of it."""
    return _part(event, "request")


def find_response(event: Any) -> Response | None:
    """The origin's response of an origin-response event if there is one."""
    return _part(event, "response")


def header(message: dict[str, Any], name: str) -> str | None:
    """The first value of a header (``name`` lower-case), or None."""
    headers = message.get("headers")
    if not isinstance(headers, dict):
        return None
    entries = headers.get(name)
    if not entries or not isinstance(entries, list) or not isinstance(entries[0], dict):
        return None
    value = entries[0].get("value")
    return value if isinstance(value, str) else None


def origin_header(request: Request, name: str) -> str | None:
    """A custom header of the origin the request goes to (``origin.s3`` or ``origin.custom``)."""
    origin = request.get("origin")
    if not isinstance(origin, dict):
        return None
    for kind in ("s3", "custom"):
        described = origin.get(kind)
        if isinstance(described, dict):
            return header({"headers": described.get("customHeaders")}, name)
    return None


def request_id(event: Any) -> str | None:
    """CloudFront's id of the viewer request (``config.requestId``), for the log line."""
    try:
        value = cf_record(event).get("config", {}).get("requestId")
    except (MalformedEvent, AttributeError):
        return None
    return value if isinstance(value, str) else None


def display_case(name: str) -> str:
    """The case CloudFront and S3 write a header name in (``x-amz-*`` stays lower-case)."""
    lowered = name.lower()
    if lowered in _HEADER_CASE:
        return _HEADER_CASE[lowered]
    if lowered.startswith("x-amz-"):
        return lowered
    return "-".join(part.capitalize() for part in lowered.split("-"))


def set_header(message: dict[str, Any], name: str, value: str) -> None:
    """Replace a header (any case) on a request or response."""
    headers = message.get("headers")
    if not isinstance(headers, dict):
        headers = message["headers"] = {}
    headers[name.lower()] = [{"key": display_case(name), "value": value}]


def original_key(uri: str) -> str:
    """The S3 key a viewer's URI names: percent-decoded, without the leading ``/``.

    ``+`` stays ``+`` (it means a space only in query strings).
    """
    return unquote(uri[1:] if uri.startswith("/") else uri, errors="surrogateescape")


def uri_for_key(key: str) -> str:
    """The origin URI of an S3 key: every byte outside the unreserved set escaped.

    ``+``, spaces, ``%`` and non-ASCII are all escaped, so S3 reads back exactly
    ``key`` whatever it makes of a literal ``+`` in a path.
    """
    return "/" + quote(key, safe="/", errors="surrogateescape")


def origin_path(request: Request) -> str:
    """The S3 origin's path prefix as a key prefix (``/media`` → ``media/``), or ``""``.

    CloudFront prepends the origin path to ``uri`` when it asks S3, so the
    original's key is this prefix plus the decoded ``uri``.
    """
    origin = request.get("origin")
    s3 = origin.get("s3") if isinstance(origin, dict) else None
    path = s3.get("path") if isinstance(s3, dict) else None
    if not isinstance(path, str) or not path.strip("/"):
        return ""
    return original_key(path.strip("/")) + "/"


def rewrite_to_key(request: Request, key: str) -> Request:
    """Point the request at the S3 object ``key`` (the full key: the origin path is cleared)."""
    origin = request.get("origin")
    s3 = origin.get("s3") if isinstance(origin, dict) else None
    if isinstance(s3, dict) and s3.get("path"):
        s3["path"] = ""
    return forward(request, uri_for_key(key))


def bucket_of(request: Request) -> str | None:
    """The bucket of an S3 origin, from ``origin.s3.domainName`` (any regional form)."""
    origin = request.get("origin")
    s3 = origin.get("s3") if isinstance(origin, dict) else None
    domain = s3.get("domainName") if isinstance(s3, dict) else None
    if not isinstance(domain, str):
        return None
    match = _S3_HOST.match(domain.lower().rstrip("."))
    return match.group("bucket") if match else None


def forward(request: Request, uri: str | None = None) -> Request:
    """The request as it goes on to S3: optional new ``uri``, query string always cleared.

    S3 gives meaning to ``?acl``, ``?versionId``, ``?response-content-type`` and
    more; a viewer must never reach those sub-resources through us.
    """
    if uri is not None:
        request["uri"] = uri
    request["querystring"] = ""
    return request


def generated(status: int, description: str, body: str, headers: dict[str, str]) -> Response:
    """A response generated at the edge (small text only: the limit is 1 MB)."""
    response: Response = {
        "status": str(status),
        "statusDescription": description,
        "headers": {},
        "body": body,
        "bodyEncoding": "text",
    }
    for key, value in headers.items():
        set_header(response, key, value)
    return response
