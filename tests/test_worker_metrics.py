"""Prometheus metrics of a real worker: what an ops dashboard scrapes after renders."""

from __future__ import annotations

import socket
import urllib.request
from typing import Any

import pytest
import redis

from core.jobs import pending_key
from core.settings import Settings
from tests.helpers import EdgeQueue, noisy_jpeg
from tests.worker_process import running_worker, wait_for

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        return str(answer.read().decode())


def sample(text: str, name: str) -> float:
    """The value of one sample line (``name`` with its labels), 0 when absent."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_metrics_count_renders_their_seconds_and_bytes(
    redis_url: str, s3_endpoint: str, s3_client: Any, bucket: str
) -> None:
    s3_client.put_object(Bucket=bucket, Key="m/photo.jpg", Body=noisy_jpeg(800, 600, seed=10))
    port = free_port()
    env = {
        "TACHYON_BROKER_URL": redis_url,
        "TACHYON_S3_ENDPOINT": s3_endpoint,
        "TACHYON_LOCK_URL": "",
        "TACHYON_METRICS_PORT": str(port),
    }
    locks = redis.Redis.from_url(redis_url)
    with running_worker(env, queues=("derivatives",), concurrency=2):
        edge = EdgeQueue(Settings(broker_url=redis_url, s3_endpoint=s3_endpoint), s3_client)
        tokens = [pending_key(edge.enqueue(bucket, "m/photo.jpg", query)[0]) for query in ("w=100", "w=200")]
        edge.close()
        wait_for(lambda: not locks.exists(*tokens), 60, what="both renders")
        text = scrape(port)

    assert sample(text, 'tachyon_render_outcomes_total{outcome="rendered"}') == 2
    assert sample(text, "tachyon_render_seconds_count") == 2
    assert 0 < sample(text, "tachyon_render_seconds_sum") < 30
    written = sum(
        o["Size"] for o in s3_client.list_objects_v2(Bucket=bucket, Prefix="_derivatives/")["Contents"]
    )
    assert sample(text, "tachyon_derivative_bytes_total") == written
