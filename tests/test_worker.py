"""The render task in a real ``celery worker`` process, fed exactly as the edge feeds it.

Real parts: the machine's Redis (this run's database) as broker and lock store,
moto's S3 server over HTTP, real images, ``celery -A worker worker`` started by
``tests/worker_process.py``.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from click.testing import CliRunner
from PIL import Image

from core.args import parse_query
from core.jobs import BATCH_QUEUE, BATCH_RENDER_TASK, RENDER_TASK, BatchRenderJob, failed_key, pending_key
from core.keys import DEFAULT_PREFIX, derivative_key
from core.objects import IMMUTABLE, ORIGINAL_ETAG, normalise_etag
from core.settings import Settings
from core.transform import Transform
from tests.helpers import LIMITS, EdgeQueue, noisy_jpeg
from tests.worker_process import WorkerProcess, running_worker, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def worker_env(redis_url: str, s3_endpoint: str) -> dict[str, str]:
    return {"TACHYON_BROKER_URL": redis_url, "TACHYON_S3_ENDPOINT": s3_endpoint, "TACHYON_LOCK_URL": ""}


@pytest.fixture(scope="module")
def worker(worker_env: dict[str, str]) -> Iterator[WorkerProcess]:
    with running_worker(worker_env, queues=("derivatives", "batch"), concurrency=2) as proc:
        yield proc


@pytest.fixture(scope="module")
def edge(redis_url: str, s3_endpoint: str, s3_client: Any) -> Iterator[EdgeQueue]:
    """The edge's own queue adapter: it knows the broker and nothing of the worker's tasks."""
    queue = EdgeQueue(Settings(broker_url=redis_url, s3_endpoint=s3_endpoint), s3_client)
    yield queue
    queue.close()


@pytest.fixture(scope="module")
def locks(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.fixture(scope="module")
def celery_app(redis_url: str) -> Iterator[Celery]:
    app = Celery("sender", broker=redis_url)
    yield app
    app.close()


def transform(query: str) -> Transform:
    parsed = parse_query(query, LIMITS)
    assert parsed is not None
    return parsed


def get_object(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return dict(s3.get_object(Bucket=bucket, Key=key))
    except s3.exceptions.NoSuchKey:
        return None


def test_edge_message_renders_the_derivative(
    worker: WorkerProcess, edge: EdgeQueue, s3_client: Any, bucket: str, locks: redis.Redis
) -> None:
    key = "uploads/2018/02/photo.jpg"
    s3_client.put_object(Bucket=bucket, Key=key, Body=noisy_jpeg(1200, 800), ContentType="image/jpeg")
    etag = s3_client.head_object(Bucket=bucket, Key=key)["ETag"]
    token, _ = edge.enqueue(bucket, key, "w=300&h=300")

    target = derivative_key(key, transform("w=300&h=300"), "jpeg")
    obj = wait_for(lambda: get_object(s3_client, bucket, target), 30, what=target)

    image = Image.open(io.BytesIO(obj["Body"].read()))
    assert image.format == "JPEG"
    assert image.size == (300, 200)
    image.load()
    assert obj["ContentType"] == "image/jpeg"
    assert obj["CacheControl"] == IMMUTABLE
    assert obj["Metadata"][ORIGINAL_ETAG] == normalise_etag(etag)
    wait_for(lambda: not locks.exists(pending_key(token)), 10, what="pending key released")
    assert not locks.exists(failed_key(token))


def test_animated_gif_keeps_every_frame(
    worker: WorkerProcess, edge: EdgeQueue, s3_client: Any, bucket: str, fixtures: Path
) -> None:
    source = (fixtures / "animated.gif").read_bytes()
    with Image.open(io.BytesIO(source)) as original:
        frames, size = getattr(original, "n_frames", 1), original.size
    assert frames > 1
    key = "media/spinner.gif"
    s3_client.put_object(Bucket=bucket, Key=key, Body=source)
    width = max(1, size[0] // 2)
    edge.enqueue(bucket, key, f"w={width}")

    target = derivative_key(key, transform(f"w={width}"), "gif")
    obj = wait_for(lambda: get_object(s3_client, bucket, target), 30, what=target)
    with Image.open(io.BytesIO(obj["Body"].read())) as gif:
        assert gif.format == "GIF"
        assert getattr(gif, "n_frames", 1) == frames
        assert gif.width == width
    assert obj["ContentType"] == "image/gif"


def test_fresh_derivative_is_left_alone_and_stale_one_replaced(
    worker: WorkerProcess, edge: EdgeQueue, s3_client: Any, bucket: str, locks: redis.Redis
) -> None:
    key = "a/b.jpg"
    s3_client.put_object(Bucket=bucket, Key=key, Body=noisy_jpeg(400, 400))
    etag = normalise_etag(s3_client.head_object(Bucket=bucket, Key=key)["ETag"])
    fresh = derivative_key(key, transform("w=100"), "jpeg")
    stale = derivative_key(key, transform("w=120"), "jpeg")
    s3_client.put_object(Bucket=bucket, Key=fresh, Body=b"kept as is", Metadata={ORIGINAL_ETAG: etag})
    s3_client.put_object(Bucket=bucket, Key=stale, Body=b"old render", Metadata={ORIGINAL_ETAG: "0ld"})

    first, _ = edge.enqueue(bucket, key, "w=100")
    second, _ = edge.enqueue(bucket, key, "w=120")
    wait_for(lambda: not locks.exists(pending_key(first), pending_key(second)), 30, what="both jobs done")

    assert s3_client.get_object(Bucket=bucket, Key=fresh)["Body"].read() == b"kept as is"
    replaced = s3_client.get_object(Bucket=bucket, Key=stale)
    assert Image.open(io.BytesIO(replaced["Body"].read())).size == (120, 120)
    assert replaced["Metadata"][ORIGINAL_ETAG] == etag


def test_corrupt_original_records_reason_once_without_retrying(
    worker: WorkerProcess, edge: EdgeQueue, s3_client: Any, bucket: str, locks: redis.Redis
) -> None:
    key = "broken/photo.jpg"
    s3_client.put_object(Bucket=bucket, Key=key, Body=b"\xff\xd8\xff\xe0 this is not really a JPEG")
    token, task_id = edge.enqueue(bucket, key, "w=300")

    reason = wait_for(lambda: locks.get(failed_key(token)), 30, what="failure recorded")
    assert reason
    assert locks.ttl(failed_key(token)) > 3000  # failure_ttl (3600 s by default)
    assert not locks.exists(pending_key(token))
    time.sleep(3)  # a retry (backoff 2 s) would show up here
    log = worker.log_text()
    assert log.count(f"Task {RENDER_TASK}[{task_id}] received") == 1
    assert f"[{task_id}] retry" not in log
    assert locks.llen("derivatives") == 0
    prefix = f"{DEFAULT_PREFIX}{key}/"
    assert s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0) == 0


def test_missing_original_records_reason(
    worker: WorkerProcess, edge: EdgeQueue, bucket: str, locks: redis.Redis
) -> None:
    token, _ = edge.enqueue(bucket, "gone/away.png", "w=10")
    reason = wait_for(lambda: locks.get(failed_key(token)), 30, what="failure recorded")
    assert b"not found" in reason
    assert not locks.exists(pending_key(token))


def test_live_miss_is_not_delayed_by_a_full_batch_queue(
    worker: WorkerProcess,
    edge: EdgeQueue,
    s3_client: Any,
    bucket: str,
    locks: redis.Redis,
    celery_app: Celery,
) -> None:
    """One worker consuming derivatives,batch takes the live miss before the batch backlog."""
    batch_key = "backlog/big.jpg"
    s3_client.put_object(Bucket=bucket, Key=batch_key, Body=noisy_jpeg(1600, 1200, seed=3))
    backlog = 150
    for width in range(200, 200 + backlog):  # distinct sizes: each is a real render
        celery_app.send_task(
            BATCH_RENDER_TASK,
            kwargs=BatchRenderJob(bucket, batch_key, [f"w={width}&format=png"]).to_kwargs(),
            queue=BATCH_QUEUE,
        )
    wait_for(lambda: locks.llen("batch") < backlog - 2, 30, what="batch under way")

    live_key = "live/photo.jpg"
    s3_client.put_object(Bucket=bucket, Key=live_key, Body=noisy_jpeg(800, 600, seed=4))
    edge.enqueue(bucket, live_key, "w=200")
    target = derivative_key(live_key, transform("w=200"), "jpeg")
    wait_for(lambda: get_object(s3_client, bucket, target), 30, interval=0.05, what=target)
    waiting = locks.llen("batch")
    locks.delete("batch")  # the rest of the backlog is not needed
    assert waiting > backlog // 2, f"the live miss waited for the batch queue ({waiting} left)"


def test_worker_health_answers_for_the_running_node(worker: WorkerProcess, redis_url: str) -> None:
    from cli import main

    ok = CliRunner().invoke(main, ["worker-health", "--broker", redis_url, "--node", worker.nodename])
    assert ok.exit_code == 0, ok.output
    missing = CliRunner().invoke(
        main, ["worker-health", "--broker", redis_url, "--node", "celery@nowhere", "--timeout", "1"]
    )
    assert missing.exit_code == 1
    assert "no reply from celery@nowhere" in missing.output
