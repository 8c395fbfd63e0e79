"""Faults around a real worker: its own Redis stopped mid-render, its processes SIGKILLed, a slow S3.

Each test runs ``tachyon-edge worker`` (the supervised Celery worker) against a
``redis-server`` it owns (``tests.faults.OwnRedis``; never the shared one) and
moto's S3 behind ``tests.faults.FaultProxy``. Nothing is restarted by the test
except the faulty part; each asserts what a viewer would get next: a complete
derivative in S3 (decodable, the right size), no partial object, and no
failure record that would keep the derivative from being queued for an hour.
docs/worker.md ("Faults") has the table these tests measure.
"""

from __future__ import annotations

import io
import os
import signal
import time
from typing import Any

import pytest
import redis
from PIL import Image

from core.jobs import attempts_key, failed_key, pending_key
from core.settings import Settings
from tests.faults import FaultProxy, OwnRedis, kill_main, pool_children
from tests.helpers import EdgeQueue, noisy_jpeg
from tests.worker_process import WorkerProcess, running_worker, wait_for

pytestmark = pytest.mark.slow
QUERY = "w=120"


def worker_env(own_redis: OwnRedis, proxy: FaultProxy, **extra: str) -> dict[str, str]:
    return {"TACHYON_BROKER_URL": own_redis.url, "TACHYON_S3_ENDPOINT": proxy.endpoint,
            "TACHYON_LOCK_URL": "", "TACHYON_VISIBILITY_TIMEOUT": "4", **extra}  # fmt: skip


def enqueue(own_redis: OwnRedis, s3_client: Any, bucket: str, key: str) -> tuple[str, str]:
    """What a queued miss on ``key?w=120`` sends (the edge's own enqueue step)."""
    edge = EdgeQueue(Settings(broker_url=own_redis.url), s3_client)
    try:
        return edge.enqueue(bucket, key, QUERY)
    finally:
        edge.close()


def derivative(s3_client: Any, bucket: str, key: str) -> Image.Image | None:
    """The stored derivative of ``key?w=120``, fully decoded; None while there is none."""
    listed = s3_client.list_objects_v2(Bucket=bucket, Prefix=f"_derivatives/{key}/").get("Contents", [])
    if not listed:
        return None
    body = s3_client.get_object(Bucket=bucket, Key=listed[0]["Key"])["Body"].read()
    image = Image.open(io.BytesIO(body))
    image.load()  # a partial object would not decode
    return image


def assert_rendered(s3_client: Any, bucket: str, key: str, timeout: float = 30) -> float:
    """Wait for the derivative; seconds it took. It must be complete and 120 px wide."""
    started = time.monotonic()
    image = wait_for(lambda: derivative(s3_client, bucket, key), timeout, 0.2, f"derivative of {key}")
    assert image.size == (120, 90)
    return time.monotonic() - started


def seed(s3_client: Any, bucket: str, count: int) -> list[str]:
    keys = [f"photos/p{i}.jpg" for i in range(count)]
    for i, key in enumerate(keys):
        s3_client.put_object(Bucket=bucket, Key=key, Body=noisy_jpeg(400, 300, seed=i))
    return keys


def celery_main(worker: WorkerProcess) -> int:
    """The pid of the Celery main process under the supervisor."""
    children = wait_for(lambda: pool_children(worker.pid), 10, what="celery under the supervisor")
    return children[0]


@pytest.mark.parametrize("fault", ["stopped", "frozen"])
def test_redis_lost_mid_render_then_back_the_same_worker_renders_the_next_miss(
    fault: str, own_redis: OwnRedis, proxy: FaultProxy, s3_client: Any, bucket: str
) -> None:
    """Outages in a row (stopped: the one that used to end the worker for good is among them)."""
    rounds = 3 if fault == "stopped" else 1
    keys = seed(s3_client, bucket, rounds + 1)
    with running_worker(worker_env(own_redis, proxy), concurrency=1, supervised=True) as worker:
        for key in keys[:rounds]:
            proxy.mode, proxy.delay = "delay", 1.5  # the render waits on S3: Redis dies under it
            _, task_id = enqueue(own_redis, s3_client, bucket, key)
            wait_for(lambda t=task_id: f"[{t}] received" in worker.log_text(), 20, what="received")  # type: ignore[misc]
            time.sleep(0.3)
            if fault == "frozen":
                own_redis.freeze()
                time.sleep(12.0)  # past the broker's 10 s socket timeout
                own_redis.thaw()  # with its data: the job is still there
            else:
                own_redis.stop()
                time.sleep(2.0)
                own_redis.start()  # empty: that job and its pending key are gone with it
            proxy.mode = "pass"
            # The next miss on the same derivative queues it again and it is rendered.
            enqueue(own_redis, s3_client, bucket, key)
            recovered = assert_rendered(s3_client, bucket, key, timeout=40)
            print(f"Redis {fault} mid-render: next miss rendered {recovered:.1f} s after Redis came back")
            assert recovered < 30
            assert not redis.Redis.from_url(own_redis.url).keys("tachyon:failed:*")
        assert worker.poll() is None, "the supervised worker ended"
        enqueue(own_redis, s3_client, bucket, keys[rounds])
        assert_rendered(s3_client, bucket, keys[rounds])


def test_main_process_sigkilled_the_supervisor_restarts_it_and_the_job_comes_back(
    own_redis: OwnRedis, proxy: FaultProxy, s3_client: Any, bucket: str
) -> None:
    """The Celery main process dies (its pool with it); the unacknowledged job is restored."""
    first, second = seed(s3_client, bucket, 2)
    with running_worker(worker_env(own_redis, proxy), concurrency=1, supervised=True) as worker:
        proxy.mode, proxy.delay = "delay", 2.0
        _, task_id = enqueue(own_redis, s3_client, bucket, first)
        wait_for(lambda: f"[{task_id}] received" in worker.log_text(), 20, what="received")
        main = celery_main(worker)
        pool = kill_main(main)
        killed_at = time.monotonic()
        proxy.mode = "pass"
        wait_for(lambda: all(not _alive(pid) for pid in pool), 10, what="pool processes gone")
        assert derivative(s3_client, bucket, first) is None
        # Restarted (new pid), then the job is restored from "unacked" after the visibility timeout.
        wait_for(lambda: pool_children(worker.pid) and pool_children(worker.pid)[0] != main, 15,
                 what="celery restarted")  # fmt: skip
        assert_rendered(s3_client, bucket, first, timeout=40)
        recovery = time.monotonic() - killed_at
        print(f"main process SIGKILLed: its job rendered {recovery:.1f} s later")
        assert recovery < 40
        enqueue(own_redis, s3_client, bucket, second)
        assert_rendered(s3_client, bucket, second)
        assert "restarting in" in worker.log_text()


def test_hard_time_limit_kill_is_counted_not_recorded_and_the_next_miss_renders(
    own_redis: OwnRedis, proxy: FaultProxy, s3_client: Any, bucket: str
) -> None:
    """A pool process stuck past the hard limit (SIGSTOP: it cannot even see the soft limit) is
    killed; that is one killed start, not an hour's refusal: the next miss renders."""
    [key] = seed(s3_client, bucket, 1)
    env = worker_env(own_redis, proxy, TACHYON_TASK_SOFT_TIME_LIMIT="2", TACHYON_TASK_TIME_LIMIT="3",
                     TACHYON_VISIBILITY_TIMEOUT="30")  # fmt: skip
    locks = redis.Redis.from_url(own_redis.url)
    with running_worker(env, concurrency=1, supervised=True) as worker:
        proxy.mode, proxy.delay = "delay", 1.0
        token, _ = enqueue(own_redis, s3_client, bucket, key)
        wait_for(lambda: "GET" in proxy.methods("delay"), 20, what="the render started")
        [child] = pool_children(celery_main(worker))
        os.kill(child, signal.SIGSTOP)
        wait_for(lambda: "Hard time limit (3s) exceeded" in worker.log_text(), 15, what="hard limit")
        wait_for(lambda: not locks.exists(pending_key(token)), 10, what="claim released")
        assert not locks.exists(failed_key(token)), locks.get(failed_key(token))
        assert locks.get(attempts_key(token)) == b"1"  # one killed start, counted
        assert derivative(s3_client, bucket, key) is None
        proxy.mode = "pass"
        enqueue(own_redis, s3_client, bucket, key)  # the next miss queues it again
        assert_rendered(s3_client, bucket, key)
        assert not locks.exists(attempts_key(token))


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_s3_hanging_on_put_gives_up_as_retryable_and_renders_once_s3_recovers(
    own_redis: OwnRedis, proxy: FaultProxy, s3_client: Any, bucket: str
) -> None:
    """A PUT that never answers: the worker's S3 timeouts (from the soft limit) end each attempt,
    the task is retried with backoff, nothing is recorded as failed, and the retry after S3
    recovers writes the complete derivative."""
    [key] = seed(s3_client, bucket, 1)
    env = worker_env(
        own_redis,
        proxy,
        TACHYON_TASK_SOFT_TIME_LIMIT="6",
        TACHYON_TASK_TIME_LIMIT="9",
        TACHYON_VISIBILITY_TIMEOUT="12",
    )
    with running_worker(env, concurrency=1, supervised=True) as worker:
        proxy.mode = "hang_put"
        token, task_id = enqueue(own_redis, s3_client, bucket, key)
        wait_for(lambda: "PUT" in proxy.methods("hang_put"), 20, what="the PUT reached S3")
        wait_for(lambda: f"[{task_id}] retry" in worker.log_text(), 20, what="a retry")
        assert derivative(s3_client, bucket, key) is None  # nothing partial, nothing at all
        assert not redis.Redis.from_url(own_redis.url).exists(failed_key(token))
        assert "Hard time limit" not in worker.log_text()
        proxy.mode = "pass"
        cleared = time.monotonic()
        proxy.drop_connections()
        assert_rendered(s3_client, bucket, key, timeout=40)
        print(f"S3 hanging on PUT: rendered {time.monotonic() - cleared:.1f} s after S3 recovered")
        assert time.monotonic() - cleared < 30
        assert not redis.Redis.from_url(own_redis.url).exists(failed_key(token))


def test_sigterm_stops_the_supervised_worker_warmly_without_a_restart(
    own_redis: OwnRedis, proxy: FaultProxy
) -> None:
    """``docker stop`` / a rolling deploy: the supervisor passes SIGTERM on and exits with the worker."""
    with running_worker(worker_env(own_redis, proxy), concurrency=1, supervised=True) as worker:
        main = celery_main(worker)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0
        assert not _alive(main)
        log = worker.log_text()
        assert "warm shutdown" in log.lower()
        assert "restarting in" not in log
