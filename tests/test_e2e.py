"""End to end, as a viewer sees it: the local CloudFront, the edge, a real worker process.

Real parts only: moto's S3 server over HTTP, Redis as broker and lock store, a
``celery -A worker worker`` subprocess, the local CloudFront serving on a free
port, and — last — ``tachyon-edge dev`` itself as a subprocess on embedded defaults.
"""

from __future__ import annotations

import asyncio
import io
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from PIL import Image

from core.settings import Settings
from edge.local.seed import content_type
from tests.local import Client, DevProcess, cloudfront, exact, run
from tests.worker_process import WorkerProcess, running_worker

pytestmark = pytest.mark.slow
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
        async with cloudfront(settings) as distribution:
            client = distribution.client
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
        async with cloudfront(settings) as distribution:
            client = distribution.client
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
            # the worker wrote the key the primary pass names: found there, without failover
            assert (response.headers["X-Tachyon"], distribution.served[-1].failover) == ("hit", False)

    run(test)


def test_large_static_original_is_queued_and_replaced(
    settings: Settings, s3_client: Any, bucket: str, fixtures: Path, worker: WorkerProcess
) -> None:
    upload(s3_client, bucket, fixtures, "briefing-copywriting.jpg", "photos/big.jpg")
    # The 453 KB photo counts as "large" for the edge, which then queues it.
    settings = settings.model_copy(update={"sync_max_bytes": 100_000})

    async def test() -> None:
        async with cloudfront(settings) as distribution:
            client = distribution.client
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
        async with cloudfront(settings) as distribution:
            client = distribution.client
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
        async with cloudfront(settings) as distribution:
            client = distribution.client
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
        async with cloudfront(settings) as distribution:
            client = distribution.client
            for query, size in srcset.items():
                response, body = await fetch(client, f"/wp-content/uploads/2024/05/brief.jpg?{query}")
                image = picture(body)
                assert (response.status, image.format, image.size) == (200, "JPEG", size), query
            again, _ = await fetch(client, "/wp-content/uploads/2024/05/brief.jpg?resize=150,150")
            assert again.status == 200
        derivatives = s3_client.list_objects_v2(Bucket=bucket, Prefix="_derivatives/")["Contents"]
        assert len(derivatives) == 4, "the ',' and '%2C' forms share one derivative"

    run(test)


def test_dev_serves_a_sample_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    dev = DevProcess("--port", "0", cwd=tmp_path)
    try:
        url = dev.url()

        with urllib.request.urlopen(f"{url}hdr.jpg?w=300", timeout=30) as response:
            image = picture(response.read())
            assert (response.status, image.format, image.width) == (200, "JPEG", 300)
        with urllib.request.urlopen(url, timeout=30) as page:
            assert "hdr.jpg?w=300" in page.read().decode()
        status, stderr = dev.stop(signal.SIGINT)
        assert status == 0, stderr
        assert "Traceback" not in stderr
        assert "GET /hdr.jpg?w=300 200" in stderr, "one log line per request"
    finally:
        dev.kill()
