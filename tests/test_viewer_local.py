"""The viewer-request function in the local CloudFront: equivalent URLs share one cache entry and
one origin-request invocation; other paths and the function's off switch are left as sent.

Real parts: the edge's own triggers, moto's S3 over HTTP, Redis, QuickJS running
edge/viewer/function.js.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from edge.flow import Edge
from tests.local import Recorder, exact, run
from tests.local import cloudfront as launch


@pytest.fixture
def settings(s3_endpoint: str, bucket: str, redis_url: str) -> Settings:
    return Settings(bucket=bucket, s3_endpoint=s3_endpoint, broker_url=redis_url, lock_url=redis_url)


def _seed(s3_client: Any, bucket: str, fixtures: Path) -> None:
    body = (fixtures / "hdr.jpg").read_bytes()
    s3_client.put_object(Bucket=bucket, Key="hdr.jpg", Body=body, ContentType="image/jpeg")
    s3_client.put_object(Bucket=bucket, Key="style.css", Body=b"a{}", ContentType="text/css")


def test_equivalent_urls_share_one_cache_entry_and_one_invocation(
    settings: Settings, s3_client: Any, bucket: str, fixtures: Path
) -> None:
    _seed(s3_client, bucket, fixtures)
    spellings = [
        "/hdr.jpg?w=120&h=80&crop=1",
        "/hdr.jpg?crop=TRUE&h=0080&w=120px&utm_source=news",
        "/hdr.jpg?x=1&w=120&h=80&crop=yes&w=120&fit=",
        "/hdr.jpg?h=80&w=%20120&crop=1&webp=",
    ]

    async def test() -> None:
        recorder = Recorder(Edge(settings))
        async with launch(settings, recorder) as cdn:
            states = []
            for target in spellings:
                response = await cdn.client.session.get(exact(cdn.client, target))
                assert response.status == 200
                assert response.headers["Content-Type"] == "image/jpeg"
                states.append(response.headers["X-Cache"])
            assert states == ["Miss from cloudfront"] + ["Hit from cloudfront"] * 3
            queries = {r["Records"][0]["cf"]["request"]["querystring"] for r in recorder.requests}
            assert queries == {"crop=1&h=80&w=120"}
            assert cdn.local.viewer is not None and cdn.local.viewer.invocations == 4

    run(test)


def test_other_paths_keep_their_query_in_the_cache_key(
    settings: Settings, s3_client: Any, bucket: str, fixtures: Path
) -> None:
    _seed(s3_client, bucket, fixtures)

    async def test() -> None:
        async with launch(settings, Recorder(Edge(settings))) as cdn:
            first = await cdn.client.get("/style.css?ver=1")
            second = await cdn.client.get("/style.css?ver=2")
            assert first.status == second.status == 200
            assert second.headers["X-Cache"] == "Miss from cloudfront", "a version bump still refetches"

    run(test)


def test_without_the_function_each_spelling_is_its_own_entry(
    settings: Settings, s3_client: Any, bucket: str, fixtures: Path
) -> None:
    _seed(s3_client, bucket, fixtures)
    off = settings.model_copy(update={"viewer_function": False})

    async def test() -> None:
        async with launch(off, Recorder(Edge(off))) as cdn:
            assert cdn.local.viewer is None
            await cdn.client.get("/hdr.jpg?w=120")
            again = await cdn.client.get("/hdr.jpg?w=0120")
            assert again.status == 200 and again.headers["X-Cache"] == "Miss from cloudfront"

    run(test)


def test_an_invalid_query_still_gets_the_edges_reason(
    settings: Settings, s3_client: Any, bucket: str, fixtures: Path
) -> None:
    _seed(s3_client, bucket, fixtures)

    async def test() -> None:
        async with launch(settings, Recorder(Edge(settings))) as cdn:
            response = await cdn.client.get("/hdr.jpg?w=abc&x=1")
            assert response.status == 400
            assert await response.text() == "Invalid w: must be a whole number ≥ 1, got 'abc'."

    run(test)
