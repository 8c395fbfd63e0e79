"""The local CloudFront: events shaped as CloudFront sends them, S3's answers, TTL caching.

Real parts: the edge's own ``Edge`` triggers, moto's S3 server over HTTP, Redis
for the edge's locks. ``Recorder`` only keeps a copy of each event on its way to
the real ``Edge`` so the tests can read what CloudFront would have sent. The
origin group, failover and request collapsing: tests/test_origin_group.py.
"""

from __future__ import annotations

import io
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from core.settings import Settings
from edge.flow import Edge
from edge.local.cache import ResponseCache, cache_ttl
from edge.local.cloudfront import Served, request_event
from tests.local import Client, Clock, Recorder, exact, run
from tests.local import cloudfront as launch


@pytest.fixture
def settings(s3_endpoint: str, bucket: str, redis_url: str) -> Settings:
    return Settings(bucket=bucket, s3_endpoint=s3_endpoint, broker_url=redis_url, lock_url=redis_url)


@asynccontextmanager
async def cloudfront(
    settings: Settings, clock: Clock | None = None
) -> AsyncIterator[tuple[Client, Recorder, list[Served]]]:
    """The local CloudFront with a ``Recorder`` around the real edge."""
    recorder = Recorder(Edge(settings))
    async with launch(settings, recorder, clock=clock) as distribution:
        yield distribution.client, recorder, distribution.served


def put(s3_client: Any, bucket: str, key: str, body: bytes, **extra: Any) -> None:
    s3_client.put_object(Bucket=bucket, Key=key, Body=body, **extra)


# --- the events --------------------------------------------------------------------


def test_request_event_is_shaped_like_cloudfronts() -> None:
    event = request_event(
        method="GET",
        raw_path="/uploads/a%20b.jpg?resize=150%2C150&w=3",
        viewer_headers=[
            ("Host", "localhost:8080"),
            ("Accept", "image/webp"),
            ("X-Forwarded-For", "10.0.0.1"),
        ],
        client_ip="127.0.0.1",
        bucket="media",
        region="eu-west-1",
        distribution="localhost:8080",
    )
    cf = event["Records"][0]["cf"]
    request = cf["request"]
    assert cf["config"]["eventType"] == "origin-request"
    assert request["uri"] == "/uploads/a%20b.jpg"
    assert request["querystring"] == "resize=150%2C150&w=3"
    assert request["method"] == "GET"
    assert request["clientIp"] == "127.0.0.1"
    assert request["headers"]["host"] == [{"key": "Host", "value": "media.s3.amazonaws.com"}]
    assert request["headers"]["x-forwarded-for"][0]["value"] == "10.0.0.1, 127.0.0.1"
    assert "accept" not in request["headers"], "Accept is not forwarded unless auto-format is on"
    assert all(name == name.lower() for name in request["headers"])
    assert request["origin"]["s3"]["domainName"] == "media.s3.amazonaws.com"
    assert request["origin"]["s3"]["region"] == "eu-west-1"


def test_events_from_a_real_request_reach_the_edge_as_cloudfront_sends_them(
    settings: Settings, s3_client: Any, bucket: str, fixtures: Path
) -> None:
    put(s3_client, bucket, "up loads/hdr.jpg", (fixtures / "hdr.jpg").read_bytes(), ContentType="image/jpeg")

    async def test() -> None:
        async with cloudfront(settings) as (client, recorder, _):
            response = await client.session.get(exact(client, "/up%20loads/hdr.jpg?resize=150%2C150"))
            assert response.status == 200
            request = recorder.requests[0]["Records"][0]["cf"]["request"]
            assert request["uri"] == "/up%20loads/hdr.jpg"
            # the viewer-request function (edge/viewer/function.js) wrote the canonical query
            assert request["querystring"] == "resize=150,150"
            after = recorder.responses[0]["Records"][0]["cf"]
            assert after["config"]["eventType"] == "origin-response"
            # the request as sent to S3: rewritten to the derivative, with the edge's marker header
            assert after["request"]["uri"].startswith("/_derivatives/up%20loads/hdr.jpg/")
            assert after["request"]["querystring"] == ""
            assert "x-tachyon-outcome" in after["request"]["headers"]
            assert after["response"]["status"] == "200"
            assert after["response"]["headers"]["content-type"][0]["value"] == "image/jpeg"

    run(test)


def test_s3_errors_reach_origin_response_and_the_viewer(settings: Settings) -> None:
    async def test() -> None:
        async with cloudfront(settings) as (client, recorder, _):
            response = await client.get("/missing.jpg?w=100")
            assert response.status == 404
            assert "NoSuchKey" in await response.text()
            assert recorder.responses[-1]["Records"][0]["cf"]["response"]["status"] == "404"
            head = await client.head("/missing.txt")
            assert head.status == 404

    run(test)


# --- answers and caching -------------------------------------------------------------


def test_original_is_served_with_s3_headers_and_cached_for_its_max_age(
    settings: Settings, s3_client: Any, bucket: str
) -> None:
    put(s3_client, bucket, "notes.txt", b"hello " * 100, ContentType="text/plain", CacheControl="max-age=1")
    etag = s3_client.head_object(Bucket=bucket, Key="notes.txt")["ETag"]

    clock = Clock()

    async def test() -> None:
        async with cloudfront(settings, clock) as (client, recorder, served):
            first = await client.get("/notes.txt?acl")
            assert first.status == 200
            assert await first.read() == b"hello " * 100
            assert first.headers["X-Cache"] == "Miss from cloudfront"
            assert first.headers["Content-Type"] == "text/plain"
            assert first.headers["ETag"] == etag
            assert first.headers["Content-Length"] == "600"
            second = await client.get("/notes.txt?acl")
            assert second.headers["X-Cache"] == "Hit from cloudfront"
            assert await second.read() == b"hello " * 100
            head = await client.head("/notes.txt?acl")
            assert head.headers["X-Cache"] == "Hit from cloudfront"
            assert head.headers["Content-Length"] == "600"
            assert len(recorder.requests) == 1
            clock.advance(0.9)
            assert (await client.get("/notes.txt?acl")).headers["X-Cache"] == "Hit from cloudfront"
            clock.advance(0.2)
            third = await client.get("/notes.txt?acl")
            assert third.headers["X-Cache"] == "Miss from cloudfront"
            assert [s.cache for s in served] == ["Miss", "Hit", "Hit", "Hit", "Miss"]

    run(test)


def test_responses_without_max_age_are_not_cached(settings: Settings, s3_client: Any, bucket: str) -> None:
    put(s3_client, bucket, "plain.txt", b"x", ContentType="text/plain")
    put(s3_client, bucket, "secret.txt", b"y", ContentType="text/plain", CacheControl="no-store, max-age=60")

    async def test() -> None:
        async with cloudfront(settings) as (client, _, served):
            for path in ("/plain.txt", "/plain.txt", "/secret.txt", "/secret.txt"):
                assert (await client.get(path)).headers["X-Cache"] == "Miss from cloudfront"
            assert [s.cache for s in served] == ["Miss"] * 4

    run(test)


def test_query_string_is_part_of_the_cache_key(
    settings: Settings, s3_client: Any, bucket: str, fixtures: Path
) -> None:
    put(s3_client, bucket, "hdr.jpg", (fixtures / "hdr.jpg").read_bytes(), ContentType="image/jpeg")

    async def test() -> None:
        async with cloudfront(settings) as (client, _, _served):
            sizes = []
            for query in ("w=120", "w=60", "w=120"):
                response = await client.get(f"/hdr.jpg?{query}")
                assert response.status == 200
                sizes.append(
                    (Image.open(io.BytesIO(await response.read())).width, response.headers["X-Cache"])
                )
            assert sizes == [
                (120, "Miss from cloudfront"),
                (60, "Miss from cloudfront"),
                (120, "Hit from cloudfront"),
            ]

    run(test)


def test_a_generated_400_is_returned_as_is_and_cached_per_its_cache_control(
    settings: Settings, s3_client: Any, bucket: str, fixtures: Path
) -> None:
    put(s3_client, bucket, "hdr.jpg", (fixtures / "hdr.jpg").read_bytes(), ContentType="image/jpeg")

    async def test() -> None:
        async with cloudfront(settings) as (client, recorder, _):
            first = await client.get("/hdr.jpg?w=abc")
            assert first.status == 400
            assert "w" in await first.text()
            assert first.headers["X-Cache"] == "Miss from cloudfront"
            assert recorder.responses == [], "origin-response never runs for a generated response"
            max_age = cache_ttl(first.headers["Cache-Control"])
            assert max_age > 0
            second = await client.get("/hdr.jpg?w=abc")
            assert second.status == 400
            assert second.headers["X-Cache"] == "Hit from cloudfront"

    run(test)


def test_auto_format_puts_the_negotiated_format_in_the_cache_key(
    s3_endpoint: str, s3_client: Any, bucket: str, redis_url: str, fixtures: Path
) -> None:
    put(s3_client, bucket, "hdr.jpg", (fixtures / "hdr.jpg").read_bytes(), ContentType="image/jpeg")
    settings = Settings(
        bucket=bucket, s3_endpoint=s3_endpoint, broker_url=redis_url, lock_url=redis_url, auto_format=True
    )

    async def test() -> None:
        async with cloudfront(settings) as (client, _, _served):
            seen = []
            for accept in ("image/webp,*/*", "image/jpeg,*/*", "image/webp,image/png"):
                response = await client.get("/hdr.jpg?w=100", headers={"Accept": accept})
                image = Image.open(io.BytesIO(await response.read()))
                seen.append((image.format, response.headers["Content-Type"], response.headers["X-Cache"]))
            assert seen == [
                ("WEBP", "image/webp", "Miss from cloudfront"),
                ("JPEG", "image/jpeg", "Miss from cloudfront"),
                ("WEBP", "image/webp", "Hit from cloudfront"),
            ]

    run(test)


def test_conditional_get_and_refused_methods(settings: Settings, s3_client: Any, bucket: str) -> None:
    put(s3_client, bucket, "a.txt", b"abc", ContentType="text/plain", CacheControl="max-age=60")

    async def test() -> None:
        async with cloudfront(settings) as (client, _, _served):
            etag = (await client.get("/a.txt")).headers["ETag"]
            again = await client.get("/a.txt", headers={"If-None-Match": etag})
            assert again.status == 304
            assert (await client.post("/a.txt", data=b"x")).status == 403

    run(test)


# --- the cache on its own ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "ttl"),
    [
        (None, 0),
        ("", 0),
        ("public, max-age=10", 10),
        ("max-age=0", 0),
        ("public, max-age=31536000, immutable", 31_536_000),
        ("max-age=999999999", 31_536_000),
        ("s-maxage=5, max-age=100", 5),
        ("no-store", 0),
        ("no-cache, max-age=60", 0),
        ("private, max-age=60", 0),
        ("max-age=abc", 0),
        ('max-age="20"', 20),
    ],
)
def test_cache_ttl_follows_cloudfront_with_min_ttl_zero(header: str | None, ttl: int) -> None:
    assert cache_ttl(header) == ttl


def test_cache_expires_entries_and_stays_within_its_byte_bound() -> None:
    now = [1000.0]
    cache = ResponseCache(max_bytes=4000, max_object_bytes=1500, clock=lambda: now[0])  # 3 entries of ~1.2 kB
    assert cache.put("/a", 200, [], b"a" * 1000, ttl=10)
    assert not cache.put("/huge", 200, [], b"h" * 2000, ttl=10), "bigger than one object may be"
    assert not cache.put("/zero", 200, [], b"z", ttl=0)
    assert cache.put("/b", 200, [], b"b" * 1000, ttl=10)
    assert cache.get("/a", need_body=True) is not None  # /a is now the most recently used
    assert cache.put("/c", 200, [], b"c" * 1000, ttl=10)
    assert cache.put("/d", 200, [], b"d" * 1000, ttl=10)  # evicts the least recently used: /b
    assert cache.get("/b", need_body=True) is None
    assert cache.get("/a", need_body=True) is not None
    assert cache.size_bytes <= 4000
    now[0] += 10
    assert cache.get("/a", need_body=True) is None, "expired at exactly its TTL"


def test_cache_bound_holds_in_real_memory_for_many_small_responses() -> None:
    """Small derivatives with CloudFront-like headers: what the cache counts is what it holds.

    Measured with tracemalloc: payload bytes alone would be a sixth of the memory used.
    """
    import gc
    import tracemalloc

    bound = 2_000_000
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    cache = ResponseCache(max_bytes=bound)
    for i in range(20_000):
        body = bytes(60) + i.to_bytes(4, "big")  # a tiny image's worth
        raw = (b"Content-Type: image/webp\r\nContent-Length: 64\r\nETag: \"%032x\"\r\n"
               b"Last-Modified: Tue, 01 Dec 2026 10:00:00 GMT\r\nAccept-Ranges: bytes\r\n"
               b"Cache-Control: public, max-age=31536000, immutable\r\nServer: AmazonS3\r\n"
               b"x-tachyon: hit\r\nDate: Tue, 01 Dec 2026 10:00:00 GMT" % i)  # fmt: skip
        # parsed per response, as the HTTP client does: every name and value is its own str
        headers = [
            (name, value) for name, _, value in (line.decode().partition(": ") for line in raw.split(b"\r\n"))
        ]
        cache.put(f"/uploads/2026/12/photo-{i}.jpg?w=64", 200, headers, body, ttl=60)
    del body, headers, raw
    gc.collect()
    used = sum(stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    payload = sum(len(entry.body) for entry in cache._entries.values())
    assert cache.size_bytes <= bound
    assert used <= bound * 1.15, f"the cache holds {used} bytes for a bound of {bound}"
    assert used >= cache.size_bytes * 0.85, f"counted {cache.size_bytes}, holds {used}"
    assert payload * 4 < used, "the entries are small: memory is mostly overhead"


def test_a_head_answer_serves_head_but_never_get() -> None:
    cache = ResponseCache()
    cache.put("/x", 200, [("Content-Length", "5")], b"", ttl=60, has_body=False)
    assert cache.get("/x", need_body=False) is not None
    assert cache.get("/x", need_body=True) is None
    cache.put("/x", 200, [], b"12345", ttl=60)
    assert cache.get("/x", need_body=True) is not None
    assert not cache.put("/x", 200, [], b"", ttl=60, has_body=False), "a HEAD never replaces a full answer"


def test_timing_is_reported_per_request(settings: Settings, s3_client: Any, bucket: str) -> None:
    put(s3_client, bucket, "t.txt", b"t", ContentType="text/plain")

    async def test() -> None:
        async with cloudfront(settings) as (client, _, served):
            started = time.perf_counter()
            await client.get("/t.txt")
            elapsed = (time.perf_counter() - started) * 1000
            assert len(served) == 1
            assert served[0].target == "/t.txt"
            assert served[0].status == 200
            assert served[0].outcome == "passthrough"
            assert 0 < served[0].ms <= elapsed

    run(test)


def test_an_unreachable_origin_is_a_502_not_a_crash(bucket: str, redis_url: str) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings = Settings(
        bucket=bucket,
        s3_endpoint=f"http://127.0.0.1:{port}",
        broker_url=redis_url,
        lock_url=redis_url,
        s3_timeout=1,
    )

    async def test() -> None:
        async with cloudfront(settings) as (client, _, served):
            response = await client.get("/hdr.jpg?w=100")
            assert response.status == 502
            assert "origin" in await response.text()
            assert response.headers["X-Cache"] == "Miss from cloudfront"
            assert (await client.get("/hdr.jpg?w=100")).status == 502, "errors of the origin are not cached"
            assert [s.cache for s in served] == ["Miss", "Miss"]

    run(test)
