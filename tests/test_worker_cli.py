"""`tachyon-edge queue-depth` against Redis, and the in-process worker of the dev mode (memory://)."""

from __future__ import annotations

import io
import json
from typing import Any

import redis
from celery import Celery
from click.testing import CliRunner
from PIL import Image

from cli import main
from core.args import parse_query
from core.keys import derivative_key
from core.settings import Settings
from tests.helpers import LIMITS, EdgeQueue, noisy_jpeg
from tests.worker_process import wait_for


def test_queue_depth_prints_waiting_messages_per_queue(redis_url: str) -> None:
    locks = redis.Redis.from_url(redis_url)
    locks.delete("derivatives", "batch")
    sender = Celery("edge", broker=redis_url)
    try:
        for _ in range(3):
            sender.send_task("tachyon.noop", queue="derivatives")
        for _ in range(5):
            sender.send_task("tachyon.noop", queue="batch")
        plain = CliRunner().invoke(main, ["queue-depth", "--broker", redis_url])
        as_json = CliRunner().invoke(main, ["queue-depth", "--broker", redis_url, "--json"])
    finally:
        sender.close()
        locks.delete("derivatives", "batch")
    assert plain.exit_code == 0, plain.output
    assert "derivatives\t3" in plain.output.splitlines()
    assert "batch\t5" in plain.output.splitlines()
    assert json.loads(as_json.output)["batch"] == 5


def test_in_process_worker_renders_over_memory_broker(s3_endpoint: str, s3_client: Any, bucket: str) -> None:
    from worker.app import configure, start_in_process_worker

    app = configure(Settings(broker_url="memory://", s3_endpoint=s3_endpoint, lock_url=None))
    s3_client.put_object(Bucket=bucket, Key="dev/cat.jpg", Body=noisy_jpeg(400, 300))
    stop = start_in_process_worker(app, pool="threads", concurrency=1)
    edge = EdgeQueue(Settings(broker_url="memory://", s3_endpoint=s3_endpoint, lock_url=None), s3_client)
    try:
        edge.enqueue(bucket, "dev/cat.jpg", "w=100")
        edge.close()
        transform = parse_query("w=100", LIMITS)
        assert transform is not None
        target = derivative_key("dev/cat.jpg", transform, "jpeg")
        wait_for(
            lambda: s3_client.list_objects_v2(Bucket=bucket, Prefix=target).get("KeyCount"), 30, what=target
        )
    finally:
        stop()
        configure(Settings())
    body = s3_client.get_object(Bucket=bucket, Key=target)["Body"].read()
    assert Image.open(io.BytesIO(body)).size == (100, 75)
