"""Operations on the AWS-native path: queue depth, batch reprocessing with progress, purges — no Redis.

The commands run as a user runs them (``tachyon-edge …`` with ``TACHYON_*``
variables) against moto's SQS, DynamoDB and S3, with a real worker on SQS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.aws import Endpoints, Stack
from tests.helpers import noisy_jpeg
from tests.worker_process import ROOT, running_worker, wait_for

pytestmark = pytest.mark.slow


def tachyon(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``tachyon-edge ARGS`` in a process of its own, with ``env`` over the test's environment."""
    merged = {k: v for k, v in os.environ.items() if not k.startswith("TACHYON_")} | env
    command = [sys.executable, "-c", "from cli import main; main()", *args]
    return subprocess.run(
        command, env=merged, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_queue_depth_on_sqs_counts_visible_in_flight_and_dead_messages(endpoints: Endpoints) -> None:
    stack = Stack(endpoints, max_receives=1)
    for body in ("a", "b"):
        stack.sqs.send_message(QueueUrl=stack.urls["derivatives"], MessageBody=body)
    stack.sqs.send_message(QueueUrl=stack.urls["batch"], MessageBody="c")
    stack.sqs.receive_message(QueueUrl=stack.urls["derivatives"], MaxNumberOfMessages=1, VisibilityTimeout=60)
    for _ in range(2):  # received twice with maxReceiveCount 1: moved to the dead-letter queue
        stack.sqs.receive_message(QueueUrl=stack.urls["batch"], VisibilityTimeout=0)

    done = tachyon(stack.env(), "queue-depth", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "derivatives": 1, "batch": 0, "unacked": 1, "derivatives_in_flight": 1, "batch_in_flight": 0,
        "derivatives_dead": 0, "batch_dead": 1,
    }  # fmt: skip
    text = tachyon(stack.env(), "queue-depth").stdout
    assert "derivatives\t1\nbatch\t0\nunacked\t1\n" in text


def test_reprocess_waits_for_its_run_on_sqs_then_a_purge_is_enqueued_there(
    endpoints: Endpoints, s3_endpoint: str, s3_client: Any, bucket: str, fixtures: Path
) -> None:
    stack = Stack(endpoints)
    for number in range(3):
        s3_client.put_object(Bucket=bucket, Key=f"p/{number}.jpg", Body=noisy_jpeg(300, 200, seed=number))
    s3_client.put_object(Bucket=bucket, Key="p/broken.jpg", Body=noisy_jpeg(300, 200)[:500])
    env = stack.env() | {"TACHYON_S3_ENDPOINT": s3_endpoint, "TACHYON_BUCKET": bucket}
    with running_worker(env, concurrency=2) as worker:
        healthy = tachyon(env, "worker-health", "--node", worker.nodename)
        assert healthy.returncode == 0, healthy.stderr  # from its heartbeat: SQS has no remote control
        done = tachyon(env, "reprocess", "--prefix", "p/", "--args", "w=50", "--args", "w=20", "--wait")
        assert done.returncode == 1, done.stdout + done.stderr  # one original is broken
        assert "originals:     4" in done.stdout
        assert "rendered:      6" in done.stdout
        assert "failed:        2" in done.stdout
        assert "p/broken.jpg?w=50:" in done.stdout, "the failures keep their reasons"
        derivatives = s3_client.list_objects_v2(Bucket=bucket, Prefix="_derivatives/p/0.jpg/")
        assert derivatives["KeyCount"] == 2

        queued = tachyon(env, "purge", "p/0.jpg", "--enqueue")
        assert queued.returncode == 0, queued.stderr
        wait_for(
            lambda: s3_client.list_objects_v2(Bucket=bucket, Prefix="_derivatives/p/0.jpg/")["KeyCount"] == 0,
            60,
            what="the purge done by the worker",
        )
    left = s3_client.list_objects_v2(Bucket=bucket, Prefix="_derivatives/")["KeyCount"]
    assert left == 4, "the other originals keep theirs"
    stopped = tachyon(env, "worker-health", "--node", worker.nodename)
    assert (stopped.returncode, "no heartbeat" in stopped.stderr) == (1, True)
