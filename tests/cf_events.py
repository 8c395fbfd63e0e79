"""CloudFront Lambda@Edge events for tests, built from the recorded examples in ``tests/events``.

``origin_request(bucket, uri, query)`` loads ``origin-request-s3.json`` and
overrides what a test varies; the S3 origin's ``domainName`` names the test's
bucket in its regional form, so the edge finds the bucket as it would in AWS.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

EVENTS = Path(__file__).parent / "events"


@cache
def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def viewer_uri(key: str) -> str:
    """The URI a browser sends for an S3 key (``+`` left literal, as browsers do)."""
    return "/" + quote(key, safe="/+")


def origin_request(
    bucket: str,
    uri: str,
    query: str = "",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An origin-request event for ``uri?query`` on an S3 origin serving ``bucket``."""
    event = copy.deepcopy(_load("origin-request-s3.json"))
    request = event["Records"][0]["cf"]["request"]
    request["uri"] = uri
    request["querystring"] = query
    request["origin"]["s3"]["domainName"] = f"{bucket}.s3.us-east-1.amazonaws.com"
    for name, value in (headers or {}).items():
        request["headers"][name.lower()] = [{"key": name, "value": value}]
    return event


def origin_response(request: dict[str, Any], status: int = 200, **headers: str) -> dict[str, Any]:
    """An origin-response event: S3's answer (200 or 403 example) to ``request`` as forwarded."""
    name = "origin-response-s3-403.json" if status == 403 else "origin-response-s3-200.json"
    event = copy.deepcopy(_load(name))
    cf = event["Records"][0]["cf"]
    cf["request"] = copy.deepcopy(request)
    response = cf["response"]
    response["status"] = str(status)
    for key, value in headers.items():
        name = key.replace("_", "-")
        response["headers"][name.lower()] = [{"key": name, "value": value}]
    return event


def header(message: dict[str, Any], name: str) -> str | None:
    """The first value of a header on a request or response."""
    entries = message.get("headers", {}).get(name.lower())
    return entries[0]["value"] if entries else None
