"""Faults the edge meets: S3 refused, reset, slow, truncating, failing or hanging PUTs; Redis stopped, frozen.

The viewer asks the local CloudFront (its own fetches from S3 go straight to
moto); the real ``Edge`` reaches S3 through ``tests.faults.FaultProxy`` and
its lock store / broker is a ``redis-server`` the test owns. Each test
asserts what the viewer gets (status, the original's bytes or a complete
derivative, Cache-Control), that no derivative object is left in S3 by the
fault, and that once the fault clears the next miss after the fallback's
lifetime (``fallback_ttl``, moved by the cache clock) renders and later
requests are hits, with nothing restarted. Invocation times are measured
against ``edge_deadline`` (docs/edge.md, "Deadline" and "Faults").
"""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis
from multidict import CIMultiDict
from PIL import Image

from core.settings import Settings
from edge.flow import Edge
from tests.faults import FaultProxy, Mode, OwnRedis, refused_port
from tests.helpers import messages, noisy_jpeg
from tests.local import Client, Clock, Recorder, run
from tests.local import cloudfront as launch

pytestmark = pytest.mark.slow
KEY = "photos/cat.jpg"
ORIGINAL = noisy_jpeg(400, 300, seed=7)
Headers = CIMultiDict[str]
DEADLINE = 3.0  # seconds; the default (10 s) is measured by test_invocation_time_against_dead_and_slow_s3


def edge_settings(bucket: str, endpoint: str, own_redis: OwnRedis, **extra: Any) -> Settings:
    fields: dict[str, Any] = {"bucket": bucket, "s3_endpoint": endpoint, "broker_url": own_redis.url,
                              "lock_url": own_redis.url, "edge_deadline": DEADLINE, **extra}  # fmt: skip
    return Settings(**fields)


@asynccontextmanager
async def viewer(
    bucket: str, s3_endpoint: str, edge: Settings, clock: Clock
) -> AsyncIterator[tuple[Client, Recorder]]:
    """The local CloudFront (fetching from moto directly) with the edge going through the proxy."""
    recorder = Recorder(Edge(edge))
    cloudfront = Settings(bucket=bucket, s3_endpoint=s3_endpoint, broker_url=edge.broker_url)
    async with launch(cloudfront, recorder, clock=clock) as distribution:
        yield distribution.client, recorder
    await recorder.close()


async def ask(client: Client, target: str = f"/{KEY}?w=120") -> tuple[int, bytes, Headers, float]:
    started = time.monotonic()
    response = await client.get(target)
    body = await response.read()
    return response.status, body, CIMultiDict(response.headers), time.monotonic() - started


def derivatives(s3_client: Any, bucket: str) -> list[str]:
    listed = s3_client.list_objects_v2(Bucket=bucket, Prefix="_derivatives/").get("Contents", [])
    return [item["Key"] for item in listed]


def assert_original(status: int, body: bytes, headers: Headers) -> None:
    """The viewer got the original, as a short-lived fallback (never a 5xx)."""
    assert status == 200
    assert body == ORIGINAL
    assert headers["Cache-Control"] == "public, max-age=10"


def assert_derivative(status: int, body: bytes, headers: Headers) -> None:
    assert status == 200
    with Image.open(io.BytesIO(body)) as image:
        image.load()
        assert image.size == (120, 90)
    assert "immutable" in headers["Cache-Control"]


async def recovers(client: Client, clock: Clock, s3_client: Any, bucket: str) -> float:
    """After the fault cleared: the fallback expires, the next miss renders, then hits. Seconds taken."""
    cleared = time.monotonic()
    clock.advance(11)  # the fallback's max-age=10 has passed in the CDN
    status, body, headers, _ = await ask(client)
    assert_derivative(status, body, headers)
    assert headers["X-Cache"] == "Miss from cloudfront"
    status, body, headers, _ = await ask(client)
    assert_derivative(status, body, headers)
    assert headers["X-Cache"] == "Hit from cloudfront"
    assert len(derivatives(s3_client, bucket)) == 1
    return time.monotonic() - cleared


@pytest.mark.parametrize("mode", ["fail_put", "hang_put", "reset", "truncate", "delay"])
def test_s3_fault_viewer_gets_the_original_then_the_derivative_once_it_clears(
    mode: Mode, proxy: FaultProxy, own_redis: OwnRedis, s3_endpoint: str, s3_client: Any, bucket: str
) -> None:
    s3_client.put_object(Bucket=bucket, Key=KEY, Body=ORIGINAL, ContentType="image/jpeg")
    proxy.mode, proxy.delay, proxy.truncate_at = mode, 2 * DEADLINE, 300
    clock = Clock()

    async def test() -> None:
        edge = edge_settings(bucket, proxy.endpoint, own_redis)
        async with viewer(bucket, s3_endpoint, edge, clock) as (client, _):
            status, body, headers, took = await ask(client)
            assert_original(status, body, headers)
            assert headers["x-tachyon"] == "fallback"
            print(f"S3 {mode}: the viewer got the original in {took:.2f} s")
            assert took < DEADLINE + 1.5, f"{mode}: the viewer waited {took:.1f} s"
            assert derivatives(s3_client, bucket) == [], "a derivative was written under the fault"
            proxy.mode = "pass"
            proxy.drop_connections()
            recovery = await recovers(client, clock, s3_client, bucket)
            print(f"S3 {mode}: derivative then hit {recovery:.2f} s after the fault cleared (+ fallback_ttl)")
            assert recovery < 5

    run(test)
    if mode in ("fail_put", "hang_put"):
        assert "PUT" in proxy.methods(mode), "the fault never met a PUT"


@pytest.mark.parametrize("fault", ["stopped", "frozen", "restarted"])
def test_redis_fault_queued_miss_falls_back_then_the_first_miss_after_sends_its_job(
    fault: str, own_redis: OwnRedis, s3_endpoint: str, s3_client: Any, bucket: str
) -> None:
    """A miss the edge queues (here every original is "large"): Redis gone, then back (empty if stopped).

    ``restarted``: Redis restarted between two misses, so the edge's pooled
    connections are dead when the next miss comes: it must still send its job."""
    s3_client.put_object(Bucket=bucket, Key=KEY, Body=ORIGINAL, ContentType="image/jpeg")
    clock = Clock()
    broker = redis.Redis.from_url(own_redis.url)

    async def test() -> None:
        edge = edge_settings(bucket, s3_endpoint, own_redis, sync_max_bytes=1000)
        async with viewer(bucket, s3_endpoint, edge, clock) as (client, _):
            status, body, headers, _ = await ask(client, f"/{KEY}?w=60")  # the pool is warm
            assert_original(status, body, headers)
            assert headers["x-tachyon"] == "queued"
            if fault == "restarted":  # between two misses: the pooled connections are dead
                own_redis.restart()
            else:
                own_redis.freeze() if fault == "frozen" else own_redis.stop()
                try:
                    status, body, headers, took = await ask(client)
                    assert_original(status, body, headers)
                    assert headers["x-tachyon"] == "fallback"
                    print(f"Redis {fault}: the viewer got the original in {took:.2f} s")
                    assert took < DEADLINE + 1.5
                finally:
                    own_redis.thaw() if fault == "frozen" else own_redis.start()
            clock.advance(11)
            status, body, headers, _ = await ask(client)  # the first queued miss after the fault
            assert_original(status, body, headers)
            assert headers["x-tachyon"] == "queued"
            sent = [m["kwargs"]["query"] for m in messages(broker)]
            assert "w=120" in sent, f"the first miss after the restart sent no job: {sent}"
            assert derivatives(s3_client, bucket) == []

    run(test)


def test_invocation_time_against_dead_and_slow_s3(
    proxy: FaultProxy, own_redis: OwnRedis, s3_endpoint: str, s3_client: Any, bucket: str
) -> None:
    """The default deadline (10 s) holds against S3 refusing, resetting and stalling (docs/edge.md)."""
    s3_client.put_object(Bucket=bucket, Key=KEY, Body=ORIGINAL, ContentType="image/jpeg")
    dead = f"http://127.0.0.1:{refused_port()}"
    timings: dict[str, float] = {}
    cases: list[tuple[str, str, Mode]] = [
        ("refused", dead, "pass"), ("reset", proxy.endpoint, "reset"), ("slow", proxy.endpoint, "delay")
    ]  # fmt: skip

    async def test() -> None:
        for name, endpoint, mode in cases:
            proxy.mode, proxy.delay = mode, 60.0
            edge = edge_settings(bucket, endpoint, own_redis, edge_deadline=10.0)
            async with viewer(bucket, s3_endpoint, edge, Clock()) as (client, _):
                status, body, headers, took = await ask(client)
                assert_original(status, body, headers)
                timings[name] = took
            proxy.mode = "pass"
            proxy.drop_connections()

    run(test)
    print("edge invocation, faulty S3, deadline 10 s:", {k: round(v, 2) for k, v in timings.items()})
    assert timings["slow"] < 11.0
    assert max(timings.values()) < 11.0


class LambdaContext:
    """What Lambda passes the handler: here only the time the function has left."""

    def __init__(self, milliseconds: int) -> None:
        self.ends = time.monotonic() + milliseconds / 1000

    def get_remaining_time_in_millis(self) -> int:
        return int((self.ends - time.monotonic()) * 1000)


def test_a_function_timeout_below_the_deadline_still_ends_in_a_fallback(
    proxy: FaultProxy, own_redis: OwnRedis, s3_client: Any, bucket: str
) -> None:
    """A function given 3 s (below ``edge_deadline``) against a stalled S3: the original before its end."""
    from edge import handler
    from tests.cf_events import origin_request

    s3_client.put_object(Bucket=bucket, Key=KEY, Body=ORIGINAL, ContentType="image/jpeg")
    proxy.mode, proxy.delay = "delay", 30.0
    handler.configure(edge_settings(bucket, proxy.endpoint, own_redis, edge_deadline=10.0))
    try:
        started = time.monotonic()
        answer = handler.origin_request(origin_request(bucket, f"/{KEY}", "w=120"), LambdaContext(3000))
        took = time.monotonic() - started
    finally:
        handler.reload()
    assert took < 2.9, f"{took:.1f} s: past the function's time"
    assert answer["uri"] == f"/{KEY}"  # the original, forwarded to S3
    assert answer["headers"]["x-tachyon-outcome"][0]["value"] == "fallback"
