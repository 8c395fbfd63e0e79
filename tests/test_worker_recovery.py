"""A worker killed in the middle of a render: the job comes back and the derivative is complete.

The whole process tree is SIGKILLed (as when a container is OOM-killed or its
host vanishes): no process is left to requeue the message. It stays in Redis's
"unacked" set (acks_late) and kombu restores it once it is older than the
visibility timeout. ``TACHYON_VISIBILITY_TIMEOUT=4`` here makes that 4 s
instead of task_time_limit + 60 s; the restarted worker then renders it again.
"""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from PIL import Image

from core.args import parse_query
from core.jobs import attempts_key, failed_key, failure_reason, pending_key
from core.keys import derivative_key
from core.settings import Settings
from tests.helpers import LIMITS, EdgeQueue
from tests.worker_process import running_worker, wait_for
from worker.tasks import MAX_KILLED

pytestmark = pytest.mark.slow
QUERY = "w=4900&format=png"  # a ~24 MP PNG of noise: seconds to encode, a wide window to kill in


def big_jpeg() -> bytes:
    channels = [Image.effect_noise((5000, 5000), sigma) for sigma in (60, 70, 80)]
    out = io.BytesIO()
    Image.merge("RGB", channels).save(out, "JPEG", quality=80)
    return out.getvalue()


def test_sigkill_mid_render_then_restart_completes_the_derivative(
    redis_url: str, s3_endpoint: str, s3_client: Any, bucket: str
) -> None:
    key = "huge/noise.jpg"
    s3_client.put_object(Bucket=bucket, Key=key, Body=big_jpeg())
    transform = parse_query(QUERY, LIMITS)
    assert transform is not None
    target = derivative_key(key, transform, "png")
    locks = redis.Redis.from_url(redis_url)
    env = {
        "TACHYON_BROKER_URL": redis_url,
        "TACHYON_S3_ENDPOINT": s3_endpoint,
        "TACHYON_LOCK_URL": "",
        "TACHYON_VISIBILITY_TIMEOUT": "4",
    }

    def exists() -> bool:
        return int(s3_client.list_objects_v2(Bucket=bucket, Prefix=target).get("KeyCount", 0)) > 0

    edge = EdgeQueue(Settings(broker_url=redis_url, s3_endpoint=s3_endpoint), s3_client)
    with running_worker(env, concurrency=1) as first:
        token, task_id = edge.enqueue(bucket, key, QUERY)
        edge.close()
        wait_for(lambda: f"[{task_id}] received" in first.log_text(), 30, what="task received")
        time.sleep(1.0)  # now decoding / resizing / encoding
        assert not exists(), "render finished before the kill; make it bigger"
        first.kill_tree()
    assert locks.hlen("unacked") == 1  # delivered, never acknowledged
    assert not exists()

    with running_worker(env, concurrency=1) as second:
        wait_for(exists, 90, interval=0.5, what="derivative after restart")
        wait_for(lambda: not locks.exists(pending_key(token)), 10, what="pending key released")
        assert f"[{task_id}] received" in second.log_text()

    obj = s3_client.get_object(Bucket=bucket, Key=target)
    assert obj["ContentType"] == "image/png"
    with Image.open(io.BytesIO(obj["Body"].read())) as image:
        image.load()  # decodes completely: not a partial object
        assert image.size == (4900, 4900)
    assert locks.hlen("unacked") == 0


def test_a_render_killed_again_and_again_is_given_up_with_a_reason(
    redis_url: str, s3_endpoint: str, s3_client: Any, bucket: str
) -> None:
    """A poisonous original (one whose render gets the pool process OOM-killed) is not retried forever.

    Each SIGKILL of the pool process puts the message back (late ack +
    reject_on_worker_lost); after ``MAX_KILLED`` killed starts the next start
    records why and stops, so the edge serves the original without enqueueing it.
    """
    key = "huge/poison.jpg"
    s3_client.put_object(Bucket=bucket, Key=key, Body=big_jpeg())
    transform = parse_query(QUERY, LIMITS)
    assert transform is not None
    locks = redis.Redis.from_url(redis_url)
    env = {"TACHYON_BROKER_URL": redis_url, "TACHYON_S3_ENDPOINT": s3_endpoint, "TACHYON_LOCK_URL": ""}
    edge = EdgeQueue(Settings(broker_url=redis_url, s3_endpoint=s3_endpoint), s3_client)
    with running_worker(env, concurrency=1) as worker:
        token, _ = edge.enqueue(bucket, key, QUERY)
        edge.close()
        for attempt in range(1, MAX_KILLED + 1):
            wait_for(lambda n=attempt: locks.get(attempts_key(token)) == str(n).encode(), 60,  # type: ignore[misc]
                     what=f"start {attempt}")  # fmt: skip
            time.sleep(0.5)  # decoding now
            children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
            assert children, "no pool process to kill"
            for child in children:
                os.kill(int(child), signal.SIGKILL)  # what the kernel's OOM killer does
        wait_for(lambda: locks.exists(failed_key(token)) == 1, 60, what="failure recorded")
    record = locks.get(failed_key(token))
    assert record is not None
    assert f"killed {MAX_KILLED} times" in (failure_reason(record, None) or "")
    assert not locks.exists(pending_key(token))
    assert not locks.exists(attempts_key(token))
    assert s3_client.list_objects_v2(Bucket=bucket, Prefix="_derivatives/").get("KeyCount", 0) == 0
