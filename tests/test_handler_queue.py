"""Large and animated misses: one Celery message on the real Redis broker, the original meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import redis

from core.jobs import LIVE_QUEUE, RENDER_TASK, failed_key, failure_record, pending_key
from core.settings import Settings
from edge.flow import Edge
from tests.cf_events import header, origin_request
from tests.helpers import messages, token_for


@pytest.fixture
def settings(s3_endpoint: str, redis_url: str) -> Settings:
    return Settings(s3_endpoint=s3_endpoint, broker_url=redis_url, sync_max_bytes=1_000_000)


def gather(settings: Settings, *events: dict[str, Any]) -> list[dict[str, Any]]:
    """Send events concurrently through one Edge, as the local CloudFront does."""

    async def main() -> list[dict[str, Any]]:
        edge = Edge(settings)
        try:
            return list(await asyncio.gather(*(edge.origin_request(e) for e in events)))
        finally:
            await edge.close()

    return asyncio.run(main())


def put(s3: Any, bucket: str, key: str, path: Path) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())


def test_large_original_is_queued_once_and_served_meanwhile(
    settings: Settings, bucket: str, s3_client: Any, fixtures: Path, broker: redis.Redis
) -> None:
    put(s3_client, bucket, "big/humans.png", fixtures / "humans.png")  # 2.3 MB > 1 MB
    query = "resize=150%2C150"
    results = gather(settings, *(origin_request(bucket, "/big/humans.png", query) for _ in range(20)))

    for result in results:
        assert (result["uri"], result["querystring"]) == ("/big/humans.png", "")
        assert header(result, "x-tachyon-outcome") == "queued"
    assert broker.llen(LIVE_QUEUE) == 1
    (message,) = messages(broker)
    etag = s3_client.head_object(Bucket=bucket, Key="big/humans.png")["ETag"].strip('"')
    token = token_for(bucket, "big/humans.png", query, "png")
    assert message == {
        "task": RENDER_TASK,
        "kwargs": {
            "bucket": bucket, "original_key": "big/humans.png", "query": query, "token": token,
            "accept": None, "etag": etag,
        },
    }  # fmt: skip
    assert 0 < broker.ttl(pending_key(token)) <= settings.pending_ttl
    assert [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]] == ["big/humans.png"]

    # once the worker is done (it deletes the pending key), a later miss enqueues again
    broker.delete(pending_key(token))
    gather(settings, origin_request(bucket, "/big/humans.png", query))
    assert broker.llen(LIVE_QUEUE) == 2


def test_animated_original_is_queued(
    settings: Settings, bucket: str, s3_client: Any, fixtures: Path, broker: redis.Redis
) -> None:
    put(s3_client, bucket, "anim.gif", fixtures / "animated.gif")  # 329 KB, 48 frames
    (result,) = gather(settings, origin_request(bucket, "/anim.gif", "w=100"))
    assert (result["uri"], header(result, "x-tachyon-outcome")) == ("/anim.gif", "queued")
    assert [m["kwargs"]["original_key"] for m in messages(broker)] == ["anim.gif"]


def test_too_many_decoded_pixels_is_queued(
    settings: Settings, bucket: str, s3_client: Any, fixtures: Path, broker: redis.Redis
) -> None:
    put(s3_client, bucket, "wide.png", fixtures / "Website.png")  # 600×355, 33 KB
    tight = settings.model_copy(update={"sync_max_pixels": 100_000})
    (result,) = gather(tight, origin_request(bucket, "/wide.png", "w=100"))
    assert (result["uri"], header(result, "x-tachyon-outcome")) == ("/wide.png", "queued")
    assert broker.llen(LIVE_QUEUE) == 1


def test_failed_job_is_not_enqueued_again(
    settings: Settings, bucket: str, s3_client: Any, fixtures: Path, broker: redis.Redis
) -> None:
    put(s3_client, bucket, "bad.png", fixtures / "humans.png")
    token = token_for(bucket, "bad.png", "w=10", "png")
    broker.set(failed_key(token), "too many frames")
    (result,) = gather(settings, origin_request(bucket, "/bad.png", "w=10"))
    assert (result["uri"], header(result, "x-tachyon-outcome")) == ("/bad.png", "fallback")
    assert broker.llen(LIVE_QUEUE) == 0


@pytest.mark.parametrize("which", ["lock", "broker"])
def test_redis_unreachable_falls_back(
    settings: Settings, bucket: str, s3_client: Any, fixtures: Path, *, broker: redis.Redis, which: str
) -> None:
    """Lock store down, or broker down: the viewer gets the original; nothing raises."""
    put(s3_client, bucket, "big.png", fixtures / "humans.png")
    closed = "redis://127.0.0.1:1/0"
    down = settings.model_copy(
        update={"lock_url": closed}
        if which == "lock"
        else {"broker_url": closed, "lock_url": settings.broker_url}
    )
    # one after the other: after a failed send the claim is released and the next miss retries
    results = [gather(down, origin_request(bucket, "/big.png", "w=10"))[0] for _ in range(2)]
    for result in results:
        assert (result["uri"], result["querystring"]) == ("/big.png", "")
        assert header(result, "x-tachyon-outcome") == "fallback"
    if which == "broker":
        token = token_for(bucket, "big.png", "w=10", "png")
        assert broker.exists(pending_key(token)) == 0


def test_without_a_lock_store_dedupes_in_process(
    s3_endpoint: str, bucket: str, s3_client: Any, fixtures: Path
) -> None:
    """A memory:// broker (one-process dev mode): the in-process Celery queue gets one message."""
    from kombu.connection import Connection

    settings = Settings(s3_endpoint=s3_endpoint, broker_url="memory://", sync_max_bytes=1_000_000)
    assert settings.effective_lock_url is None
    put(s3_client, bucket, "mem.png", fixtures / "humans.png")
    results = gather(settings, *(origin_request(bucket, "/mem.png", "w=10") for _ in range(5)))
    assert {header(r, "x-tachyon-outcome") for r in results} == {"queued"}
    with Connection("memory://") as connection:  # type: ignore[no-untyped-call]
        queue = connection.SimpleQueue(LIVE_QUEUE)
        message = queue.get(timeout=1)
        assert message.headers["task"] == RENDER_TASK
        assert message.payload[1]["original_key"] == "mem.png"
        message.ack()
        assert queue.qsize() == 0


def test_a_failure_recorded_for_a_replaced_original_does_not_block_the_new_one(
    settings: Settings, bucket: str, s3_client: Any, fixtures: Path, broker: redis.Redis
) -> None:
    """The worker gave up on the old bytes; a fixed upload under the same key is queued again."""
    put(s3_client, bucket, "fixed.png", fixtures / "humans.png")
    old_etag = s3_client.head_object(Bucket=bucket, Key="fixed.png")["ETag"].strip('"')
    token = token_for(bucket, "fixed.png", "w=10", "png")
    broker.set(failed_key(token), failure_record(old_etag, "corrupt image"))
    (before,) = gather(settings, origin_request(bucket, "/fixed.png", "w=10"))
    assert header(before, "x-tachyon-outcome") == "fallback"
    assert broker.llen(LIVE_QUEUE) == 0

    s3_client.put_object(Bucket=bucket, Key="fixed.png", Body=(fixtures / "humans.png").read_bytes() + b"\0")
    (after,) = gather(settings, origin_request(bucket, "/fixed.png", "w=10"))
    assert (after["uri"], header(after, "x-tachyon-outcome")) == ("/fixed.png", "queued")
    assert broker.llen(LIVE_QUEUE) == 1
    assert not broker.exists(failed_key(token))
