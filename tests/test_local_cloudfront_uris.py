"""The local CloudFront on malformed URIs, as CloudFront documents them.

CloudFront's rules ("Restrictions on all edge functions": URI, query strings,
encoding; "Quotas": URL length): a URI the function leaves alone goes to the
origin as received, so a percent escape that is not UTF-8 reaches S3, which
refuses it (400 InvalidURI); a URL over 8,192 bytes is CloudFront's own 414; a
function that returns a ``uri`` not starting with ``/``, or a query string with
spaces, control characters or ``#``, fails CloudFront's validation (502).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from edge.flow import Edge
from tests.local import cloudfront, exact, run


@pytest.fixture
def settings(s3_endpoint: str, bucket: str, redis_url: str, s3_client: Any, fixtures: Path) -> Settings:
    s3_client.put_object(Bucket=bucket, Key="hdr.jpg", Body=(fixtures / "hdr.jpg").read_bytes())
    return Settings(bucket=bucket, s3_endpoint=s3_endpoint, broker_url=redis_url, lock_url=redis_url)


class Rewriter:
    """An origin-request function that rewrites the request as given (to test CloudFront's checks)."""

    def __init__(self, edge: Edge, **changes: str) -> None:
        self.edge = edge
        self.changes = changes

    async def origin_request(self, event: dict[str, Any]) -> dict[str, Any]:
        request: dict[str, Any] = event["Records"][0]["cf"]["request"]
        return {**request, **self.changes}

    async def origin_response(self, event: dict[str, Any]) -> dict[str, Any]:
        return await self.edge.origin_response(event)

    async def close(self) -> None:
        await self.edge.close()


@pytest.mark.parametrize("target", ["/hdr%FF.jpg?w=100", "/hdr%FF.jpg", "/%E9t%E9.jpg?w=100", "/a%C3.jpg"])
def test_a_non_utf8_percent_escape_reaches_s3_which_refuses_it(settings: Settings, target: str) -> None:
    async def test() -> None:
        async with cloudfront(settings) as distribution:
            client = distribution.client
            response = await client.session.get(exact(client, target))
            body = await response.text()
            assert response.status == 400, body[:500]
            assert response.headers["Content-Type"] == "application/xml"
            assert "<Code>InvalidURI</Code>" in body
            assert response.headers["x-tachyon"] == "passthrough", "origin-response ran on S3's answer"
            assert response.headers["X-Cache"] == "Miss from cloudfront"
            assert [s.status for s in distribution.served] == [400]

    run(test)


def test_a_url_over_8192_bytes_is_cloudfronts_414(settings: Settings) -> None:
    base = "/hdr.jpg?w=100&pad="

    async def test() -> None:
        async with cloudfront(settings) as distribution:
            client = distribution.client
            longest = await client.session.get(exact(client, base + "a" * (8192 - len(base))))
            assert longest.status == 200, "8,192 bytes is within the quota"
            assert longest.headers["x-tachyon"] == "rendered"
            over = await client.session.get(exact(client, base + "a" * (8193 - len(base))))
            assert over.status == 414
            assert "x-tachyon" not in over.headers, "the function never ran"
            far_over = await client.session.get(exact(client, base + "a" * 15_000))
            assert far_over.status == 414

    run(test)


@pytest.mark.parametrize(
    "changes",
    [
        {"uri": "hdr.jpg"},  # must start with /
        {"querystring": "a b"},
        {"querystring": "a=1#frag"},
        {"querystring": "a=\x01"},
        {"uri": "/" + "a" * 8200 + ".jpg"},
    ],
)
def test_a_function_result_that_breaks_cloudfronts_uri_rules_is_a_502(
    settings: Settings, changes: dict[str, str]
) -> None:
    async def test() -> None:
        async with cloudfront(settings, Rewriter(Edge(settings), **changes)) as distribution:
            response = await distribution.client.get("/hdr.jpg?w=100")
            assert response.status == 502
            assert "invalid" in await response.text()

    run(test)
