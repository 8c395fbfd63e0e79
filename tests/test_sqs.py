"""The AWS-native path end to end: SQS for the queue, the DynamoDB job table, no Redis anywhere.

Real parts only: moto's server over HTTP (S3, SQS, DynamoDB), real ``celery
worker`` processes consuming SQS, the local CloudFront running the edge. The
edge runs as a Lambda@Edge replica far from the queues would: its
``AWS_REGION`` is eu-central-1 while the queues, the table and the worker are
in us-east-1 (``tests.aws``).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from core.jobs import LIVE_QUEUE, RENDER_TASK
from core.settings import Settings
from edge.flow import Edge
from tests.aws import REGION, Endpoints, Stack, client
from tests.cf_events import header, origin_request
from tests.local import cloudfront, run
from tests.test_e2e import fetch, frames, until_derivative, upload
from tests.worker_process import running_worker

pytestmark = pytest.mark.slow
EDGE_REGION = "eu-central-1"  # where this Lambda@Edge replica runs


@pytest.fixture
def far_replica(monkeypatch: pytest.MonkeyPatch, endpoints: Endpoints) -> None:
    """This process plays a Lambda@Edge replica in another region, with moto for SQS and DynamoDB."""
    for name, value in endpoints.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_REGION", EDGE_REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", EDGE_REGION)


@pytest.fixture
def stack(endpoints: Endpoints) -> Stack:
    return Stack(endpoints)


def edge_settings(stack: Stack, s3_endpoint: str, bucket: str, **extra: Any) -> Settings:
    fields: dict[str, Any] = {"s3_endpoint": s3_endpoint, "region": REGION, "bucket": bucket}
    return Settings(**(fields | stack.settings() | {"sync_max_bytes": 1_000_000, "fallback_ttl": 1} | extra))


def decoded(message: dict[str, Any]) -> dict[str, Any]:
    """The Celery message inside an SQS body (kombu's base64 envelope)."""
    envelope: dict[str, Any] = json.loads(base64.b64decode(message["Body"]))
    _args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
    return {"task": envelope["headers"]["task"], "kwargs": kwargs, "envelope": envelope}


def worker_env(stack: Stack, s3_endpoint: str) -> dict[str, str]:
    return stack.env() | {"TACHYON_S3_ENDPOINT": s3_endpoint, "TACHYON_LOCK_URL": ""}


def misses(settings: Settings, events: list[dict[str, Any]], *, containers: int = 1) -> list[dict[str, Any]]:
    """Send origin-request events concurrently, spread over ``containers`` Edge instances."""

    async def main() -> list[dict[str, Any]]:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(64))  # threads for every call
        edges = [Edge(settings) for _ in range(containers)]
        try:
            calls = (edges[i % containers].origin_request(copy.deepcopy(e)) for i, e in enumerate(events))
            return list(await asyncio.gather(*calls))
        finally:
            for edge in edges:
                await edge.close()

    return asyncio.run(main())


def test_the_edges_message_is_the_one_celery_sends(stack: Stack, endpoints: Endpoints) -> None:
    """botocore's SendMessage of ``celery_message`` and Celery's own send_task: the same message."""
    from celery import Celery

    from core.jobs import celery_message

    celery = Celery("probe", broker="sqs://", set_as_current=False)
    options = {"region": REGION, "predefined_queues": {LIVE_QUEUE: {"url": stack.urls[LIVE_QUEUE]}}}
    celery.conf.update(broker_transport_options=options, task_serializer="json")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in endpoints.env().items():
            patch.setenv(name, value)
        celery.send_task(RENDER_TASK, kwargs={"bucket": "b", "original_key": "a.png"}, queue=LIVE_QUEUE)
    body = celery_message(RENDER_TASK, {"bucket": "b", "original_key": "a.png"}, queue=LIVE_QUEUE)
    stack.sqs.send_message(QueueUrl=stack.urls[LIVE_QUEUE], MessageBody=body)
    theirs, ours = (decoded(m) for m in stack.receive(LIVE_QUEUE))
    assert ours["task"] == theirs["task"] == RENDER_TASK
    assert ours["kwargs"] == theirs["kwargs"]
    for part in ("headers", "properties"):
        assert set(ours["envelope"][part]) >= set(theirs["envelope"][part]) - {"body_encoding"}, part
    assert (
        ours["envelope"]["properties"]["delivery_info"] == theirs["envelope"]["properties"]["delivery_info"]
    )


def test_a_far_replica_sends_to_the_configured_regions_queue_and_creates_nothing(
    far_replica: None, stack: Stack, s3_endpoint: str, bucket: str, s3_client: Any, fixtures: Path
) -> None:
    upload(s3_client, bucket, fixtures, "humans.png", "big/humans.png")  # 2.3 MB: queued
    settings = edge_settings(stack, s3_endpoint, bucket)
    (result,) = misses(settings, [origin_request(bucket, "/big/humans.png", "w=200")])
    assert (result["uri"], header(result, "x-tachyon-outcome")) == ("/big/humans.png", "queued")

    (message,) = stack.receive(LIVE_QUEUE)
    sent = decoded(message)
    assert sent["task"] == RENDER_TASK
    assert (sent["kwargs"]["original_key"], sent["kwargs"]["query"]) == ("big/humans.png", "w=200")
    assert client(s3_endpoint, "sqs", EDGE_REGION).list_queues().get("QueueUrls", []) == []
    ours = client(s3_endpoint, "sqs").list_queues(QueueNamePrefix=stack.prefix)["QueueUrls"]
    assert sorted(ours) == sorted(stack.urls.values()), "no queue was created"


@pytest.fixture
def sqs_worker(stack: Stack, s3_endpoint: str) -> Iterator[None]:
    with running_worker(worker_env(stack, s3_endpoint), concurrency=2):
        yield


@pytest.mark.parametrize(
    ("name", "query", "check"),
    [
        ("animated.gif", "w=100", lambda i: (i.format, i.size, frames(i)) == ("GIF", (100, 100), 48)),
        ("humans.png", "w=300", lambda i: (i.format, i.width) == ("PNG", 300)),
    ],
)
def test_miss_queued_rendered_by_the_sqs_worker_then_a_hit(
    far_replica: None,
    stack: Stack,
    sqs_worker: None,
    s3_endpoint: str,
    bucket: str,
    s3_client: Any,
    fixtures: Path,
    name: str,
    query: str,
    check: Any,
) -> None:
    upload(s3_client, bucket, fixtures, name)
    settings = edge_settings(stack, s3_endpoint, bucket)

    async def test() -> None:
        async with cloudfront(settings) as distribution:
            first, body = await fetch(distribution.client, f"/{name}?{query}")
            assert (first.headers["X-Tachyon"], body) == ("queued", (fixtures / name).read_bytes())
            response, _image = await until_derivative(distribution.client, f"/{name}?{query}", check)
            assert "immutable" in response.headers["Cache-Control"]
        async with cloudfront(settings) as fresh:  # a new CloudFront cache: the edge finds the derivative
            again, _ = await fetch(fresh.client, f"/{name}?{query}")
            assert again.headers["X-Tachyon"] == "hit"

    run(test)
    assert stack.depth(LIVE_QUEUE) == (0, 0)


def test_fifty_misses_at_once_in_ten_containers_send_one_message_and_the_next_miss_is_a_hit(
    far_replica: None, stack: Stack, s3_endpoint: str, bucket: str, s3_client: Any, fixtures: Path
) -> None:
    upload(s3_client, bucket, fixtures, "humans.png", "large.png")
    # Fifty claims at once queue up in one moto process (seconds on a busy machine, ~10 ms each on
    # DynamoDB): the longest deadline allowed keeps this about deduplication; deadlines have
    # their own tests (tests/test_faults_edge.py).
    settings = edge_settings(stack, s3_endpoint, bucket, edge_deadline=25)
    event = origin_request(bucket, "/large.png", "resize=150%2C150")
    results = misses(settings, [event] * 50, containers=10)
    assert {header(r, "x-tachyon-outcome") for r in results} == {"queued"}
    assert stack.depth(LIVE_QUEUE) == (1, 0)

    with running_worker(worker_env(stack, s3_endpoint), concurrency=1):
        from tests.worker_process import wait_for

        wait_for(lambda: stack.depth(LIVE_QUEUE) == (0, 0), 60, what="the job consumed")
        wait_for(
            lambda: s3_client.list_objects_v2(Bucket=bucket, Prefix="_derivatives/").get("KeyCount"),
            60,
            what="the derivative",
        )
    (after,) = misses(settings, [event])
    assert header(after, "x-tachyon-outcome") == "hit"
    assert stack.depth(LIVE_QUEUE) == (0, 0)
    item = stack.job_items()
    assert item == [], "the worker released the job"


def test_a_failure_recorded_without_redis_stops_enqueueing_until_the_original_changes(
    far_replica: None, stack: Stack, s3_endpoint: str, bucket: str, s3_client: Any, fixtures: Path
) -> None:
    broken = (fixtures / "humans.png").read_bytes()[:1_500_000]  # truncated: the worker refuses it
    s3_client.put_object(Bucket=bucket, Key="broken.png", Body=broken)
    settings = edge_settings(stack, s3_endpoint, bucket)
    event = origin_request(bucket, "/broken.png", "w=100")
    (first,) = misses(settings, [event])
    assert header(first, "x-tachyon-outcome") == "queued"
    with running_worker(worker_env(stack, s3_endpoint), concurrency=1) as worker:
        from tests.worker_process import wait_for

        wait_for(stack.job_items, 60, what="a failure record")
        wait_for(lambda: stack.depth(LIVE_QUEUE) == (0, 0), 30, what="the message acknowledged")
        assert "not rendering broken.png?w=100" in worker.log_text()
    (item,) = stack.job_items()
    assert item["failed_reason"]["S"]
    for _ in range(3):
        (again,) = misses(settings, [event])
        assert header(again, "x-tachyon-outcome") == "fallback"
    assert sum(stack.depth(LIVE_QUEUE)) == 0, "nothing enqueued while the failure is recorded"

    upload(s3_client, bucket, fixtures, "humans.png", "broken.png")  # fixed under the same key
    (fixed,) = misses(settings, [event])
    assert header(fixed, "x-tachyon-outcome") == "queued"
    # one message; the stopped worker's last long poll may still hold it on moto (in flight)
    assert sum(stack.depth(LIVE_QUEUE)) == 1
