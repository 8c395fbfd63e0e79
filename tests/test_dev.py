"""`tachyon-edge dev`: what it embeds, seeding, the `/` page, and running against real services.

The embedded-defaults run (moto + in-process worker, SIGINT) is in ``test_e2e.py``.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from core.settings import Settings
from edge.local.seed import originals, s3_client, samples_dir, seed
from edge.local.server import DEFAULT_BUCKET, MEMORY_BROKER, build_app, dev_stack
from tests.local import DevProcess

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TACHYON_* variables from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("TACHYON_"):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("clean_env")
def test_no_flags_embeds_everything_with_the_samples() -> None:
    stack = dev_stack()
    assert stack.embedded_s3
    assert stack.embedded_worker
    assert stack.settings.broker_url == MEMORY_BROKER
    assert stack.settings.bucket == DEFAULT_BUCKET
    assert stack.originals == samples_dir()
    keys = [key for key, _ in originals(samples_dir())]
    assert {"hdr.jpg", "animated.gif", "Website.png", "briefing-copywriting.jpg"} <= set(keys)
    assert sum(path.stat().st_size for _, path in originals(samples_dir())) < 1_500_000


@pytest.mark.usefixtures("clean_env")
def test_flags_and_environment_replace_embedded_parts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flags = dev_stack(s3_endpoint="http://minio:9000", bucket="media", broker="redis://redis:6379/0")
    assert not flags.embedded_s3
    assert not flags.embedded_worker
    assert flags.originals is None, "a real bucket is not seeded unless --originals is given"
    assert (flags.settings.bucket, flags.settings.broker_url) == ("media", "redis://redis:6379/0")

    monkeypatch.setenv("TACHYON_S3_ENDPOINT", "http://s3.local:9000")
    monkeypatch.setenv("TACHYON_BUCKET", "from-env")
    env = dev_stack(originals=tmp_path)
    assert not env.embedded_s3
    assert env.embedded_worker, "no broker configured: the worker stays in-process on memory://"
    assert env.settings.s3_endpoint == "http://s3.local:9000"
    assert env.settings.bucket == "from-env"
    assert env.originals == tmp_path

    monkeypatch.setenv("TACHYON_BROKER_URL", "redis://elsewhere:6379/3")
    assert not dev_stack().embedded_worker
    assert dev_stack(bucket="flag-wins").settings.bucket == "flag-wins"


def test_seed_uses_paths_inside_the_folder_as_keys(
    s3_endpoint: str, bucket: str, fixtures: Path, tmp_path: Path
) -> None:
    (tmp_path / "uploads/2018/02").mkdir(parents=True)
    (tmp_path / "uploads/2018/02/photo.jpg").write_bytes((fixtures / "hdr.jpg").read_bytes())
    (tmp_path / "logo.webp").write_bytes((fixtures / "animated.webp").read_bytes())
    (tmp_path / ".DS_Store").write_bytes(b"junk")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git/config").write_text("x")
    client = s3_client(Settings(s3_endpoint=s3_endpoint, region="us-east-1"))
    keys = seed(client, bucket, tmp_path)
    assert keys == ["logo.webp", "uploads/2018/02/photo.jpg"]
    photo = client.head_object(Bucket=bucket, Key="uploads/2018/02/photo.jpg")
    assert photo["ContentType"] == "image/jpeg"
    assert photo["ContentLength"] == (fixtures / "hdr.jpg").stat().st_size
    assert client.head_object(Bucket=bucket, Key="logo.webp")["ContentType"] == "image/webp"
    fresh = f"{bucket}-new"
    assert seed(client, fresh, tmp_path) == keys, "a missing bucket is created"


def test_index_page_shows_each_original_with_derivatives(
    s3_endpoint: str, s3_client: Any, bucket: str, redis_url: str, fixtures: Path
) -> None:
    from core.settings import Settings

    seed(s3_client, bucket, samples_dir())
    s3_client.put_object(Bucket=bucket, Key="_derivatives/hdr.jpg/w300_q82.r1.jpg", Body=b"x")
    settings = Settings(bucket=bucket, s3_endpoint=s3_endpoint, broker_url=redis_url, lock_url=redis_url)

    async def test() -> None:
        _, app = build_app(settings)
        async with TestClient(TestServer(app)) as client:
            page = await client.get("/")
            html = await page.text()
            assert page.status == 200
            assert page.headers["Content-Type"].startswith("text/html")
            for name in ("hdr.jpg", "animated.gif", "Website.png"):
                assert f'src="/{name}?w=300"' in html
                assert f'src="/{name}?resize=150,150"' in html
                assert f'src="/{name}?fit=300,300&amp;webp=1"' in html
            assert "_derivatives/" not in html
            assert 'href="/README.txt"' in html
            # the thumbnails it links to are real derivatives through the same server
            thumb = await client.get("/hdr.jpg?resize=150,150")
            assert Image.open(io.BytesIO(await thumb.read())).size == (150, 150)

    asyncio.run(test())


@pytest.mark.slow
def test_dev_against_real_services_seeds_serves_and_stops_on_sigterm(
    s3_endpoint: str, bucket: str, redis_url: str, fixtures: Path, tmp_path: Path
) -> None:
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics/hdr.jpg").write_bytes((fixtures / "hdr.jpg").read_bytes())
    args = ["--port", "0", "--s3-endpoint", s3_endpoint, "--bucket", bucket, "--broker", redis_url]
    dev = DevProcess(*args, "--originals", str(tmp_path / "pics"), cwd=tmp_path)
    try:
        url = dev.url()
        assert "embedded" not in dev.banner, "nothing is embedded when the services are given"
        assert f"not started here; run one on {redis_url}" in dev.banner
        with urllib.request.urlopen(f"{url}hdr.jpg?w=120", timeout=30) as response:
            assert Image.open(io.BytesIO(response.read())).width == 120
        status, stderr = dev.stop(signal.SIGTERM)
        assert status == 0, stderr
        assert "Traceback" not in stderr
    finally:
        dev.kill()


def test_dev_on_a_busy_port_fails_with_a_clear_message(
    s3_endpoint: str, bucket: str, redis_url: str, tmp_path: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ["--port", str(port), "--s3-endpoint", s3_endpoint, "--bucket", bucket, "--broker", redis_url]
        dev = DevProcess(*args, cwd=tmp_path)
        _, stderr = dev.proc.communicate(timeout=60)
    assert dev.proc.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in stderr
    assert "Traceback" not in stderr
