"""The command line against services that are down or say no, and its other rough edges.

Every command that reaches S3, Redis or SQS reports an unreachable or refusing
service in one line with exit status 2, never a traceback. Services are real:
a closed loopback port (unreachable), moto's S3 and SQS with a bucket or queue
that does not exist, the machine's Redis given a wrong password (refusing).
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from core.args import parse_query
from core.keys import name_derivative, original_prefix
from core.settings import Settings
from edge.flow import Edge
from tests.cf_events import origin_request
from tests.helpers import LIMITS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def closed() -> Iterator[str]:
    """A loopback address nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``tachyon-edge ARGS`` in a subprocess, without the test run's ``TACHYON_*``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TACHYON_", "AWS_ENDPOINT"))}
    return subprocess.run(
        [sys.executable, "-c", "from cli import main; main()", *args],
        capture_output=True, text=True, timeout=120, check=False, cwd=cwd, env={**clean, **(env or {})},
    )  # fmt: skip


def one_line_failure(done: subprocess.CompletedProcess[str], *words: str) -> str:
    """The single stderr line of a command that failed with status 2 (no traceback)."""
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    assert len(lines) == 1, lines
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_purge_with_s3_unreachable(closed: str) -> None:
    done = cli("purge", "a.jpg", "--bucket", "media", "--s3-endpoint", f"http://{closed}")
    one_line_failure(done, "S3", "unreachable", f"http://{closed}")


def test_purge_with_a_bucket_s3_refuses(s3_endpoint: str) -> None:
    done = cli("purge", "a.jpg", "--bucket", "no-such-bucket-here", "--s3-endpoint", s3_endpoint)
    one_line_failure(done, "S3", "refused", "NoSuchBucket")


def test_purge_enqueue_with_the_broker_unreachable(closed: str, s3_endpoint: str) -> None:
    done = cli("purge", "a.jpg", "--enqueue", "--bucket", "m", "--broker", f"redis://{closed}/0")
    one_line_failure(done, "broker", "unreachable", closed)


def test_reprocess_with_redis_unreachable(closed: str) -> None:
    done = cli("reprocess", "--bucket", "m", "--args", "w=10", "--broker", f"redis://{closed}/0")
    one_line_failure(done, "Redis", "unreachable", closed)


def test_reprocess_with_redis_refusing_the_database(redis_url: str) -> None:
    beyond = redis_url.rsplit("/", 1)[0] + "/999"  # the server has 16 databases
    done = cli("reprocess", "--bucket", "m", "--args", "w=10", "--broker", beyond)
    one_line_failure(done, "Redis", "refused", "DB index")


def test_a_password_in_a_url_is_never_printed(closed: str) -> None:
    done = cli("reprocess", "--bucket", "m", "--args", "w=1", "--broker", f"redis://:s3cret@{closed}/0")
    line = one_line_failure(done, "Redis", "unreachable", f"redis://:***@{closed}/0")
    assert "s3cret" not in line


def test_queue_depth_with_redis_unreachable(closed: str) -> None:
    one_line_failure(cli("queue-depth", "--broker", f"redis://{closed}/0"), "broker", "unreachable")


def test_queue_depth_on_sqs_unreachable_or_without_the_queues(closed: str, s3_endpoint: str) -> None:
    keys = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    down = cli("queue-depth", "--broker", "sqs://", env={**keys, "AWS_ENDPOINT_URL_SQS": f"http://{closed}"})
    one_line_failure(down, "SQS", "unreachable")
    # moto's server answers every AWS API; it has no queues named derivatives/batch
    empty = cli("queue-depth", "--broker", "sqs://", env={**keys, "AWS_ENDPOINT_URL_SQS": s3_endpoint})
    one_line_failure(empty, "SQS", "refused", "derivatives")


def test_purge_says_when_there_is_nothing_to_delete(s3_endpoint: str, s3_client: Any, bucket: str) -> None:
    s3_client.put_object(Bucket=bucket, Key="uploads/a.jpg", Body=b"x")
    done = cli("purge", "uploads/a.jpg", "--bucket", bucket, "--s3-endpoint", s3_endpoint)
    assert done.returncode == 0, done.stderr
    assert "no derivatives of s3://" in done.stdout


def test_purge_of_a_url_encoded_key_names_the_key_it_means(
    s3_endpoint: str, s3_client: Any, bucket: str
) -> None:
    folder = original_prefix("uploads/my photo.jpg")
    for name in ("w300_q82.r1.jpg", "w100_q82.r1.jpg"):
        s3_client.put_object(Bucket=bucket, Key=folder + name, Body=b"x")
    done = cli("purge", "uploads/my%20photo.jpg", "--bucket", bucket, "--s3-endpoint", s3_endpoint)
    assert done.returncode == 0, done.stderr
    assert "no derivatives of s3://" in done.stdout
    assert "URL-encoded" in done.stderr
    assert "'uploads/my photo.jpg' has 2" in done.stderr
    assert s3_client.list_objects_v2(Bucket=bucket, Prefix=folder)["KeyCount"] == 2, "nothing guessed"


def test_reprocess_wait_notices_no_worker_is_consuming(redis_url: str, bucket: str) -> None:
    done = cli(
        "reprocess", "--bucket", bucket, "--args", "w=10", "--broker", redis_url, "--wait", "--timeout", "3"
    )
    assert done.returncode == 2, done.stderr
    assert "no worker is consuming the 'batch' queue" in done.stderr
    assert "celery -A worker worker -Q derivatives,batch" in done.stderr


def test_render_without_a_transform_says_the_service_passes_through(fixtures: Path, tmp_path: Path) -> None:
    done = cli("render", str(fixtures / "hdr.jpg"), "--args", "utm_source=news", cwd=tmp_path)
    line = one_line_failure(done, "no transform argument", "passes")
    assert "unchanged" in line
    assert list(tmp_path.iterdir()) == [], "nothing is written"


def test_render_names_a_percentage_crop_out_of_range(fixtures: Path, tmp_path: Path) -> None:
    done = cli("render", str(fixtures / "hdr.jpg"), "--args", "crop=10,10,150,80", cwd=tmp_path)
    one_line_failure(done, "Invalid crop", "percent", "150px")


def test_the_queued_line_names_the_key_the_worker_writes(
    s3_endpoint: str, s3_client: Any, bucket: str, redis_url: str, fixtures: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """An animated GIF is queued; the edge's log line names the .gif the worker then writes."""
    import asyncio

    from worker.render import render_original

    s3_client.put_object(Bucket=bucket, Key="anim.gif", Body=(fixtures / "animated.gif").read_bytes())
    settings = Settings(bucket=bucket, s3_endpoint=s3_endpoint, broker_url=redis_url, lock_url=redis_url)

    async def miss() -> None:
        edge = Edge(settings)
        try:
            await edge.origin_request(origin_request(bucket, "/anim.gif", "w=100"))
        finally:
            await edge.close()

    with caplog.at_level("INFO", logger="tachyon.edge"):
        asyncio.run(miss())
    (line,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tachyon.edge"]
    assert line["outcome"] == "queued"
    (written,) = render_original(settings, bucket, "anim.gif", ["w=100"])
    assert written.outcome == "rendered" and written.key is not None
    assert line["key"] == written.key
    assert line["key"].endswith(".gif")
    transform = parse_query("w=100", LIMITS)
    assert transform is not None
    moving = name_derivative("anim.gif", transform, "gif", animated=True, accept=None, prefix="_derivatives/")
    body = s3_client.get_object(Bucket=bucket, Key=moving.key)["Body"].read()
    assert getattr(Image.open(io.BytesIO(body)), "n_frames", 1) > 1


def test_dev_seeding_an_unreachable_s3(closed: str, tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    done = cli(
        "dev", "--s3-endpoint", f"http://{closed}", "--bucket", "m", "--broker", f"redis://{closed}/0",
        "--originals", str(tmp_path), "--port", "0",
        env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    )  # fmt: skip
    assert done.stdout.startswith("S3:"), done.stdout
    one_line_failure(done, "S3", "unreachable", closed)
