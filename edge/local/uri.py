"""CloudFront's and S3's rules for malformed URIs, for the local CloudFront (docs/local.md).

CloudFront documents ("Restrictions on all edge functions", "Quotas"):

- a URL (path and query string) is at most 8,192 bytes; a longer one is
  answered by CloudFront itself, 414, before any function runs;
- a URI the function leaves alone goes to the origin as received, so a percent
  escape that is not UTF-8 (``%FF``) reaches S3, whose keys are UTF-8: S3
  answers 400 ``InvalidURI``;
- a function's result must keep ``uri`` starting with ``/``, the URI with its
  query string under 8,192 characters, and a query string it changed free of
  spaces, control characters and ``#``; otherwise it fails CloudFront's
  validation, which is a 502.

Pure functions of strings, so ``cloudfront.py`` only asks them.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

#: CloudFront's quota on the length of a URL; also its limit on a function's uri + query string.
MAX_URL_BYTES = 8192
#: CloudFront's quota on a request's headers and query string, the request line included.
MAX_REQUEST_BYTES = 20_480
_BAD_QUERY = re.compile(r"[\x00-\x20\x7f#]")


def too_long(raw_path: str) -> bool:
    """Whether a viewer's request target (path and query string) exceeds CloudFront's quota."""
    return len(raw_path.encode("utf-8", "surrogateescape")) > MAX_URL_BYTES


def is_utf8_key(key: str) -> bool:
    """Whether a percent-decoded key (``surrogateescape`` for stray bytes) is UTF-8, as S3 needs."""
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def invalid_uri_body(uri: str) -> bytes:
    """S3's error document for a request path it cannot decode as UTF-8."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidURI</Code>'
        f"<Message>Couldn't parse the specified URI.</Message><URI>{escape(uri)}</URI></Error>"
    ).encode()


def result_error(received: dict[str, Any], result: dict[str, Any]) -> str | None:
    """Why CloudFront's validation rejects an origin-request function's returned request, or None."""
    uri, query = result.get("uri"), result.get("querystring", "")
    if not isinstance(uri, str) or not uri.startswith("/"):
        return "uri must be a string starting with /"
    if not isinstance(query, str):
        return "querystring must be a string"
    if len(uri) + len(query) + 1 >= MAX_URL_BYTES:
        return f"uri and querystring must be under {MAX_URL_BYTES} characters"
    if query != received.get("querystring") and _BAD_QUERY.search(query):
        return "querystring must not hold spaces, control characters or #"
    return None
