"""Batch reprocessing end to end: ``tachyon-edge reprocess --wait`` with a real worker.

1,000 tiny originals × 2 argument sets: every derivative is rendered exactly
once (the run's counters say 2,000 rendered and 0 fresh, and 2,000 derivative
objects exist); a second run over the same prefix renders nothing.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from PIL import Image

from cli import main
from core.keys import DEFAULT_PREFIX
from tests.helpers import noisy_jpeg
from tests.worker_process import WorkerProcess, running_worker

pytestmark = pytest.mark.slow
ORIGINALS = 1000


@pytest.fixture(scope="module")
def worker(redis_url: str, s3_endpoint: str) -> Iterator[WorkerProcess]:
    env = {"TACHYON_BROKER_URL": redis_url, "TACHYON_S3_ENDPOINT": s3_endpoint, "TACHYON_LOCK_URL": ""}
    with running_worker(env, queues=("derivatives", "batch"), concurrency=2) as proc:
        yield proc


def derivative_keys(s3: Any, bucket: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=DEFAULT_PREFIX)
    return [item["Key"] for page in pages for item in page.get("Contents", ())]


def reprocess(bucket: str, s3_endpoint: str, redis_url: str, *extra: str) -> Any:
    args = [
        "reprocess", "--bucket", bucket, "--s3-endpoint", s3_endpoint, "--broker", redis_url,
        "--args", "w=32", "--args", "resize=16%2C16", *extra,
    ]  # fmt: skip
    return CliRunner().invoke(main, args)


def test_batch_renders_each_derivative_once(
    worker: WorkerProcess, s3_client: Any, bucket: str, s3_endpoint: str, redis_url: str
) -> None:
    body = noisy_jpeg(64, 48, quality=80)
    keys = [f"uploads/{i // 100:02d}/img-{i:04d}.jpg" for i in range(ORIGINALS)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3_client.put_object(Bucket=bucket, Key=k, Body=body), keys))
    s3_client.put_object(Bucket=bucket, Key="uploads/notes.txt", Body=b"not an image")

    first = reprocess(bucket, s3_endpoint, redis_url, "--wait", "--timeout", "150")
    assert first.exit_code == 0, first.output
    assert "originals:     1000" in first.output
    assert "rendered:      2000" in first.output
    assert "already fresh: 0" in first.output
    assert "failed:        0" in first.output

    made = derivative_keys(s3_client, bucket)
    assert len(made) == 2 * ORIGINALS
    assert sum("/w32_" in k for k in made) == ORIGINALS
    assert sum("/resize16x16" in k for k in made) == ORIGINALS
    sample = s3_client.get_object(Bucket=bucket, Key=next(k for k in made if "resize16x16" in k))
    assert Image.open(io.BytesIO(sample["Body"].read())).size == (16, 16)

    again = reprocess(bucket, s3_endpoint, redis_url, "--prefix", "uploads/03/", "--wait", "--timeout", "120")
    assert again.exit_code == 0, again.output
    assert "rendered:      0" in again.output
    assert "originals:     100" in again.output
    assert "already fresh: 200" in again.output
    assert len(derivative_keys(s3_client, bucket)) == 2 * ORIGINALS


def test_reprocess_refuses_bad_arguments(bucket: str, s3_endpoint: str, redis_url: str) -> None:
    result = CliRunner().invoke(
        main, ["reprocess", "--bucket", bucket, "--broker", redis_url, "--args", "w=abc"]
    )
    assert result.exit_code == 2
    assert "Invalid w" in result.output


def test_a_run_keeps_the_first_failure_reasons_and_counts_them_all(redis_url: str) -> None:
    from worker.progress import MAX_FAILURES_KEPT, RedisProgress
    from worker.render import Result

    store = RedisProgress(redis.Redis.from_url(redis_url))
    run = "cap-test"
    store.start(run, bucket="b", prefix="", queries=["w=1"])
    store.record(
        run,
        "a.jpg",
        [Result(f"w={i}", "failed", reason="corrupt") for i in range(MAX_FAILURES_KEPT - 2)],
    )
    store.record(run, "b.jpg", [Result(f"w={i}", "failed", reason="corrupt") for i in range(5)])
    progress = store.read(run, with_failures=True)
    assert progress is not None
    assert progress.failed == MAX_FAILURES_KEPT + 3
    assert len(progress.failures) == MAX_FAILURES_KEPT
    kept = {name for name in progress.failures if name.startswith("b.jpg")}
    assert kept == {"b.jpg?w=0", "b.jpg?w=1"}
