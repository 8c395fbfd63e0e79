"""A stampede of first requests for one small derivative across CloudFront's regional caches.

Each regional cache is its own local CloudFront with its own edge (CloudFront
collapses requests inside one, not across them). With coalescing
(``edge.coalesce``) the derivative is rendered and PUT once and every viewer
gets it; the lock store away changes nothing for viewers (each edge then
renders as if alone). S3's request log (``tests.s3log``) counts the PUTs.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from core.settings import Settings
from edge.local.cloudfront import LocalCloudFront
from tests.faults import OwnRedis
from tests.helpers import noisy_jpeg
from tests.local import run
from tests.s3log import S3Log

pytestmark = pytest.mark.slow
REGIONS, REQUESTS = 4, 20


def burst(settings: Settings) -> list[tuple[int, bytes, str]]:
    """``REQUESTS`` concurrent first requests spread over ``REGIONS`` regional caches."""

    async def test() -> list[tuple[int, bytes, str]]:
        clients = []
        for _ in range(REGIONS):
            client: TestClient[Any, Any] = TestClient(TestServer(LocalCloudFront(settings).app()))
            await client.start_server()
            clients.append(client)

        async def one(client: TestClient[Any, Any]) -> tuple[int, bytes, str]:
            response = await client.get("/photo.jpg?w=150")
            return response.status, await response.read(), response.headers.get("x-tachyon", "")

        try:
            return list(await asyncio.gather(*(one(clients[i % REGIONS]) for i in range(REQUESTS))))
        finally:
            for client in clients:
                await client.close()

    answers: list[tuple[int, bytes, str]] = []

    async def collect() -> None:
        answers.extend(await test())

    run(collect)
    return answers


def assert_all_derivatives(answers: list[tuple[int, bytes, str]]) -> None:
    assert len(answers) == REQUESTS
    for status, body, _ in answers:
        assert status == 200
        with Image.open(io.BytesIO(body)) as image:
            assert image.size == (150, 100)


@pytest.mark.parametrize("lock_store", ["up", "stopped"])
def test_a_stampede_across_regional_caches_renders_once(
    lock_store: str, own_redis: OwnRedis, s3log: S3Log, s3_client: Any, bucket: str
) -> None:
    s3_client.put_object(Bucket=bucket, Key="photo.jpg", Body=noisy_jpeg(900, 600, seed=5))
    settings = Settings(bucket=bucket, s3_endpoint=s3log.endpoint, broker_url=own_redis.url,
                        lock_url=own_redis.url)  # fmt: skip
    if lock_store == "stopped":
        own_redis.stop()
    s3log.clear()
    answers = burst(settings)
    assert_all_derivatives(answers)
    puts = [r for r in s3log.of(bucket) if r.method == "PUT" and r.by_function]
    if lock_store == "up":
        assert len(puts) == 1, [r.line for r in puts]
        assert sum(1 for *_, outcome in answers if outcome == "hit") >= REQUESTS - REQUESTS // REGIONS
    else:
        assert 1 <= len(puts) <= REGIONS  # each regional cache renders as if alone, as without coalescing


def test_without_coalescing_each_regional_cache_renders(
    own_redis: OwnRedis, s3log: S3Log, s3_client: Any, bucket: str
) -> None:
    """The reference: ``coalesce_renders = false`` renders once per regional cache."""
    s3_client.put_object(Bucket=bucket, Key="photo.jpg", Body=noisy_jpeg(900, 600, seed=5))
    settings = Settings(bucket=bucket, s3_endpoint=s3log.endpoint, broker_url=own_redis.url,
                        lock_url=own_redis.url, coalesce_renders=False)  # fmt: skip
    s3log.clear()
    answers = burst(settings)
    assert_all_derivatives(answers)
    puts = [r for r in s3log.of(bucket) if r.method == "PUT" and r.by_function]
    assert len(puts) > 1
