"""Budgets through the local CloudFront: derivatives per original and jobs waiting on the queue.

Real parts: the edge's own triggers, moto's S3 over HTTP, a real Redis (this run's own
database) as broker and lock store, and for the AWS-native path moto's SQS and
DynamoDB job table. Beyond a budget the viewer gets the original with the short
fallback lifetime, and nothing is stored or enqueued.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest
import redis
from PIL import Image

from core.budget import budget_key, table_key
from core.jobs import LIVE_QUEUE
from core.settings import Settings
from edge.flow import Edge
from tests.aws import REGION, Endpoints, Stack
from tests.helpers import messages
from tests.local import Recorder, run
from tests.local import cloudfront as launch


def _seed(s3_client: Any, bucket: str, fixtures: Path) -> bytes:
    body = (fixtures / "hdr.jpg").read_bytes()
    s3_client.put_object(Bucket=bucket, Key="hdr.jpg", Body=body, ContentType="image/jpeg")
    return body


def _stored(s3_client: Any, bucket: str) -> int:
    listed = s3_client.list_objects_v2(Bucket=bucket, Prefix="_derivatives/")
    return len(listed.get("Contents", []))


def _budget_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    lines = [getattr(r, "tachyon", {}) for r in caplog.records]
    return [line["budget"] for line in lines if "budget" in line]


def test_an_original_gets_at_most_n_derivatives(
    s3_endpoint: str, bucket: str, redis_url: str, broker: redis.Redis, s3_client: Any, fixtures: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    original = _seed(s3_client, bucket, fixtures)
    settings = Settings(bucket=bucket, s3_endpoint=s3_endpoint, broker_url=redis_url, lock_url=redis_url,
                        max_derivatives_per_original=3, fallback_ttl=7)  # fmt: skip
    caplog.set_level(logging.INFO, logger="tachyon.edge")

    async def test() -> None:
        async with launch(settings, Recorder(Edge(settings))) as cdn:
            for width in (100, 101, 102):
                made = await cdn.client.get(f"/hdr.jpg?w={width}")
                assert made.headers["x-tachyon"] == "rendered"
                assert Image.open(io.BytesIO(await made.read())).width == width
            over = await cdn.client.get("/hdr.jpg?w=103")
            assert over.status == 200 and over.headers["x-tachyon"] == "fallback"
            assert await over.read() == original
            assert over.headers["Cache-Control"] == "public, max-age=7"
            again = await cdn.client.get("/hdr.jpg?w=101&x=1")  # an existing one is still served
            assert again.headers["x-tachyon"] in {"hit", "rendered"}
            assert Image.open(io.BytesIO(await again.read())).width == 101
        assert _stored(s3_client, bucket) == 3
        assert broker.scard(budget_key(bucket, "hdr.jpg")) == 3
        assert _budget_lines(caplog) == ["derivatives"]

    run(test)


def test_a_full_queue_gets_the_original_and_nothing_enqueued(
    s3_endpoint: str, bucket: str, redis_url: str, broker: redis.Redis, s3_client: Any, fixtures: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    original = _seed(s3_client, bucket, fixtures)
    settings = Settings(bucket=bucket, s3_endpoint=s3_endpoint, broker_url=redis_url, lock_url=redis_url,
                        sync_max_bytes=0, max_pending_jobs=2)  # fmt: skip
    caplog.set_level(logging.INFO, logger="tachyon.edge")

    async def test() -> None:
        async with launch(settings, Recorder(Edge(settings))) as cdn:
            outcomes = []
            for width in (100, 101, 102):
                response = await cdn.client.get(f"/hdr.jpg?w={width}")
                assert await response.read() == original
                outcomes.append(response.headers["x-tachyon"])
            assert outcomes == ["queued", "queued", "fallback"]
        assert broker.llen(LIVE_QUEUE) == 2
        assert sorted(m["kwargs"]["query"] for m in messages(broker)) == ["w=100", "w=101"]
        assert _budget_lines(caplog) == ["queue"]

    run(test)


def test_the_job_table_counts_derivatives_without_redis(
    endpoints: Endpoints, s3_endpoint: str, bucket: str, s3_client: Any, fixtures: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    for name, value in endpoints.env().items():
        monkeypatch.setenv(name, value)
    stack = Stack(endpoints)
    _seed(s3_client, bucket, fixtures)
    settings = Settings(bucket=bucket, s3_endpoint=s3_endpoint, region=REGION, **stack.settings(),
                        max_derivatives_per_original=2, max_pending_jobs=1)  # fmt: skip

    async def test() -> None:
        async with launch(settings, Recorder(Edge(settings))) as cdn:
            got = [(await cdn.client.get(f"/hdr.jpg?w={w}")).headers["x-tachyon"] for w in (100, 101, 102)]
            assert got == ["rendered", "rendered", "fallback"]
        item = stack.ddb.get_item(TableName=stack.table, Key=table_key(bucket, "hdr.jpg"))
        assert len(item["Item"]["derivatives"]["SS"]) == 2
        assert _stored(s3_client, bucket) == 2

    run(test)
