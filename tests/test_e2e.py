"""End to end, as a viewer sees it: the local CloudFront, the edge, a real worker process.

Real parts only: moto's S3 server over HTTP, Redis as broker and lock store, a
``celery -A worker worker`` subprocess, the local CloudFront serving on a free
port, and — last — ``tachyon-edge dev`` itself as a subprocess on embedded defaults.
"""

from __future__ import annotations

import asyncio
import io
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from yarl import URL

from core.settings import Settings
from edge.local.cloudfront import LocalCloudFront
from edge.local.seed import content_type
from tests.worker_process import WorkerProcess, running_worker

pytestmark = pytest.mark.slow
Client = TestClient[Any, Any]
FALLBACK_TTL = 1  # seconds a fallback original is cached: the viewer's retry comes soon after


@pytest.fixture(scope="module")
def worker(s3_endpoint: str, redis_url: str) -> Iterator[WorkerProcess]:
    """One real worker process for this module, on the test Redis and moto."""
    env = {"TACHYON_BROKER_URL": redis_url, "TACHYON_LOCK_URL": redis_url, "TACHYON_S3_ENDPOINT": s3_endpoint}
    with running_worker(env, concurrency=2) as proc:
        yield proc


@pytest.fixture
def settings(s3_endpoint: str, bucket: str, redis_url: str) -> Settings:
    return Settings(
        bucket=bucket,
        s3_endpoint=s3_endpoint,
        broker_url=redis_url,
        lock_url=redis_url,
        fallback_ttl=FALLBACK_TTL,
    )


@asynccontextmanager
async def cloudfront(settings: Settings) -> AsyncIterator[Client]:
    local = LocalCloudFront(settings)
    async with TestClient(TestServer(local.app())) as client:
        yield client


def exact(client: Client, target: str) -> URL:
    """The URL exactly as written (aiohttp's client would otherwise decode ``%2C``)."""
    return URL(str(client.make_url("/")).rstrip("/") + target, encoded=True)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def upload(s3_client: Any, bucket: str, fixtures: Path, name: str, key: str | None = None) -> str:
    key = key or name
    path = fixtures / name
    s3_client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type(path))
    return key


async def fetch(client: Client, target: str) -> tuple[ClientResponse, bytes]:
    response = await client.session.get(exact(client, target))
    return response, await response.read()


def picture(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def frames(image: Image.Image) -> int:
    return int(getattr(image, "n_frames", 1))


async def until_derivative(
    client: Client, target: str, done: Callable[[Image.Image], bool], deadline: float = 60.0
) -> tuple[ClientResponse, Image.Image]:
    """Re-request the same URL, as a viewer would, until the answer is the derivative."""
    give_up = time.monotonic() + deadline
    while True:
        response, body = await fetch(client, target)
        assert response.status == 200
        image = picture(body)
        if done(image):
            return response, image
        assert time.monotonic() < give_up, f"no derivative for {target} within {deadline} s"
        await asyncio.sleep(0.25)


def test_small_jpeg_is_rendered_on_the_first_request_and_cached_after(
    settings: Settings, s3_client: Any, bucket: str, fixtures: Path, worker: WorkerProcess
) -> None:
    upload(s3_client, bucket, fixtures, "hdr.jpg", "uploads/2018/02/hdr.jpg")

    async def test() -> None:
        async with cloudfront(settings) as client:
            first, body = await fetch(client, "/uploads/2018/02/hdr.jpg?w=300")
            image = picture(body)
            assert (first.status, image.format, image.size) == (200, "JPEG", (300, 149))
            assert first.headers["X-Cache"] == "Miss from cloudfront"
            assert first.headers["Content-Type"] == "image/jpeg"
            assert first.headers["Content-Length"] == str(len(body))
            second, again = await fetch(client, "/uploads/2018/02/hdr.jpg?w=300")
            assert second.headers["X-Cache"] == "Hit from cloudfront"
            assert again == body
        stored = s3_client.list_objects_v2(Bucket=bucket, Prefix="_derivatives/uploads/2018/02/hdr.jpg/")
        assert len(stored.get("Contents", [])) == 1

    run(test)


@pytest.mark.parametrize(
    ("name", "query", "fmt", "size", "frame_count"),
    [
        ("animated.gif", "w=100", "GIF", (100, 100), 48),
        ("animated.webp", "resize=200%2C100", "WEBP", (200, 100), 12),
    ],
)
def test_animated_original_is_served_first_then_the_workers_derivative(
    settings: Settings,
    s3_client: Any,
    bucket: str,
    fixtures: Path,
    worker: WorkerProcess,
    name: str,
    query: str,
    fmt: str,
    size: tuple[int, int],
    frame_count: int,
) -> None:
    upload(s3_client, bucket, fixtures, name)
    original = picture((fixtures / name).read_bytes())

    async def test() -> None:
        async with cloudfront(settings) as client:
            first, body = await fetch(client, f"/{name}?{query}")
            assert first.status == 200
            assert body == (fixtures / name).read_bytes(), "the first answer is the original"
            assert first.headers["Cache-Control"].endswith(f"max-age={FALLBACK_TTL}")
            assert first.headers["X-Tachyon"] == "queued"
            response, image = await until_derivative(
                client, f"/{name}?{query}", lambda i: i.size != original.size
            )
            assert (image.format, image.size, frames(image)) == (fmt, size, frame_count)
            assert "immutable" in response.headers["Cache-Control"]

    run(test)


def test_large_static_original_is_queued_and_replaced(
    settings: Settings, s3_client: Any, bucket: str, fixtures: Path, worker: WorkerProcess
) -> None:
    upload(s3_client, bucket, fixtures, "briefing-copywriting.jpg", "photos/big.jpg")
    # The 453 KB photo counts as "large" for the edge, which then queues it.
    settings = settings.model_copy(update={"sync_max_bytes": 100_000})

    async def test() -> None:
        async with cloudfront(settings) as client:
            first, body = await fetch(client, "/photos/big.jpg?w=400&webp=1")
            assert picture(body).size == (1512, 983)
            assert first.headers["Content-Type"] == "image/jpeg"
            assert (
                int(first.headers["Content-Length"]) == (fixtures / "briefing-copywriting.jpg").stat().st_size
            )
            response, image = await until_derivative(
                client, "/photos/big.jpg?w=400&webp=1", lambda i: i.width == 400
            )
            assert (image.format, image.size) == ("WEBP", (400, 260))
            assert response.headers["Content-Type"] == "image/webp"

    run(test)


def test_non_image_passes_through_untouched(settings: Settings, s3_client: Any, bucket: str) -> None:
    s3_client.put_object(
        Bucket=bucket, Key="docs/terms.pdf", Body=b"%PDF-1.4 fake", ContentType="application/pdf"
    )

    async def test() -> None:
        async with cloudfront(settings) as client:
            for target in ("/docs/terms.pdf", "/docs/terms.pdf?w=300"):
                response, body = await fetch(client, target)
                assert (response.status, body) == (200, b"%PDF-1.4 fake")
                assert response.headers["Content-Type"] == "application/pdf"
            missing, _ = await fetch(client, "/docs/none.pdf")
            assert missing.status == 404

    run(test)


@pytest.mark.parametrize("query", ["w=-5", "resize=abc", "quality=500", "rotate=45"])
def test_invalid_arguments_get_a_400_with_the_reason(
    settings: Settings, s3_client: Any, bucket: str, fixtures: Path, query: str
) -> None:
    upload(s3_client, bucket, fixtures, "hdr.jpg")
    argument = query.partition("=")[0]

    async def test() -> None:
        async with cloudfront(settings) as client:
            response, body = await fetch(client, f"/hdr.jpg?{query}")
            assert response.status == 400
            assert argument in body.decode()
            assert response.headers["Content-Type"].startswith("text/plain")

    run(test)


def test_wordpress_srcset_sizes_are_all_correct(
    settings: Settings, s3_client: Any, bucket: str, fixtures: Path, worker: WorkerProcess
) -> None:
    """What the WordPress Tachyon plugin writes for one 1512×983 upload (commas as %2C)."""
    upload(s3_client, bucket, fixtures, "briefing-copywriting.jpg", "wp-content/uploads/2024/05/brief.jpg")
    srcset = {
        "resize=150%2C150": (150, 150),
        "fit=300%2C300": (300, 195),
        "w=768": (768, 499),
        "fit=1024%2C1024": (1024, 666),
    }

    async def test() -> None:
        async with cloudfront(settings) as client:
            for query, size in srcset.items():
                response, body = await fetch(client, f"/wp-content/uploads/2024/05/brief.jpg?{query}")
                image = picture(body)
                assert (response.status, image.format, image.size) == (200, "JPEG", size), query
            again, _ = await fetch(client, "/wp-content/uploads/2024/05/brief.jpg?resize=150,150")
            assert again.status == 200
        derivatives = s3_client.list_objects_v2(Bucket=bucket, Prefix="_derivatives/")["Contents"]
        assert len(derivatives) == 4, "the ',' and '%2C' forms share one derivative"

    run(test)


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """stdout lines until one contains ``marker``; everything read so far."""
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or proc.poll() is not None:
            pytest.fail(f"`tachyon-edge dev` did not print {marker!r}:\n{seen}")
        ready, _, _ = select.select([proc.stdout], [], [], remaining)
        if ready:
            seen += proc.stdout.readline()
    return seen


def test_dev_serves_a_sample_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TACHYON_")}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from cli import main; main()", "dev", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        output = _read_until(proc, "Local CloudFront:", timeout=60)
        url = output.split("Local CloudFront:")[1].split()[0]
        import urllib.request

        with urllib.request.urlopen(f"{url}hdr.jpg?w=300", timeout=30) as response:
            image = picture(response.read())
            assert (response.status, image.format, image.width) == (200, "JPEG", 300)
        with urllib.request.urlopen(url, timeout=30) as page:
            assert "hdr.jpg?w=300" in page.read().decode()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr
        assert "GET /hdr.jpg?w=300 200" in stderr, "one log line per request"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
