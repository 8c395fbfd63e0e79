"""Size policies through the local CloudFront: presets only, and allowed sizes (refuse, redirect, snap).

Real parts: the edge's own triggers, moto's S3 over HTTP, Redis (broker and locks),
the viewer-request function. What the viewer gets is checked in pixels and in S3.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import redis
from PIL import Image
from pydantic import ValidationError

from core.settings import Settings
from edge.flow import Edge
from tests.helpers import messages
from tests.local import Recorder, exact, run
from tests.local import cloudfront as launch

WORDPRESS_SIZES = [150, 300, 768, 1024, 1536, 2048]
PRESETS = {"thumbnail": "resize=150,150", "medium": "fit=300,300"}


def _settings(s3_endpoint: str, bucket: str, redis_url: str, **policy: Any) -> Settings:
    return Settings(
        bucket=bucket, s3_endpoint=s3_endpoint, broker_url=redis_url, lock_url=redis_url, **policy
    )


def _seed(s3_client: Any, bucket: str, fixtures: Path) -> None:
    body = (fixtures / "hdr.jpg").read_bytes()
    s3_client.put_object(Bucket=bucket, Key="hdr.jpg", Body=body, ContentType="image/jpeg")


def _stored(s3_client: Any, bucket: str) -> list[str]:
    listed = s3_client.list_objects_v2(Bucket=bucket, Prefix="_derivatives/")
    return sorted(item["Key"] for item in listed.get("Contents", []))


async def _size(response: Any) -> tuple[int, int]:
    assert response.status == 200, await response.text()
    size: tuple[int, int] = Image.open(io.BytesIO(await response.read())).size
    return size


def test_policies_need_what_they_read() -> None:
    with pytest.raises(ValidationError, match="at least one preset"):
        Settings(size_policy="presets")
    with pytest.raises(ValidationError, match="no argument"):
        Settings(size_policy="presets", presets={"x": "utm=1"})
    with pytest.raises(ValidationError, match="Invalid w"):
        Settings(size_policy="presets", presets={"x": "w=abc"})
    with pytest.raises(ValidationError, match="allowed_sizes or size_step"):
        Settings(size_policy="allowed")


def test_presets_only(s3_endpoint: str, bucket: str, redis_url: str, s3_client: Any, fixtures: Path) -> None:
    _seed(s3_client, bucket, fixtures)
    settings = _settings(s3_endpoint, bucket, redis_url, size_policy="presets", presets=PRESETS)

    async def test() -> None:
        async with launch(settings, Recorder(Edge(settings))) as cdn:
            assert await _size(await cdn.client.get("/hdr.jpg?preset=thumbnail")) == (150, 150)
            # the plugin's own URL for that size is the same derivative
            same = await cdn.client.session.get(exact(cdn.client, "/hdr.jpg?resize=150%2C150"))
            assert await _size(same) == (150, 150)
            assert same.headers["x-tachyon"] == "hit"
            assert max(await _size(await cdn.client.get("/hdr.jpg?preset=medium"))) == 300
            for target, reason in {
                "/hdr.jpg?w=301": "only presets are served here: preset= one of medium, thumbnail.",
                "/hdr.jpg?preset=huge": "must be one of medium, thumbnail; got 'huge'.",
                "/hdr.jpg?preset=medium&w=10": "cannot be combined with other arguments (got w).",
            }.items():
                refused = await cdn.client.get(target)
                assert (refused.status, await refused.text()) == (400, "Invalid preset: " + reason)
                assert refused.headers["Cache-Control"] == f"public, max-age={settings.error_ttl}"
            assert (await cdn.client.get("/hdr.jpg")).status == 200  # the original as ever
        assert len(_stored(s3_client, bucket)) == 2

    run(test)


def test_a_queued_preset_reaches_the_worker_as_its_arguments(
    s3_endpoint: str, bucket: str, redis_url: str, broker: redis.Redis, s3_client: Any, fixtures: Path
) -> None:
    _seed(s3_client, bucket, fixtures)
    settings = _settings(
        s3_endpoint, bucket, redis_url, size_policy="presets", presets=PRESETS, sync_max_bytes=0
    )

    async def test() -> None:
        async with launch(settings, Recorder(Edge(settings))) as cdn:
            queued = await cdn.client.get("/hdr.jpg?preset=thumbnail")
            assert queued.headers["x-tachyon"] == "queued"
        assert [m["kwargs"]["query"] for m in messages(broker)] == ["resize=150,150"]

    run(test)


@pytest.mark.parametrize("outside", ["refuse", "redirect", "snap"])
def test_allowed_sizes(
    outside: str, s3_endpoint: str, bucket: str, redis_url: str, s3_client: Any, fixtures: Path
) -> None:
    _seed(s3_client, bucket, fixtures)
    settings = _settings(
        s3_endpoint, bucket, redis_url, size_policy="allowed", allowed_sizes=WORDPRESS_SIZES,
        size_outside=outside,
    )  # fmt: skip

    async def test() -> None:
        async with launch(settings, Recorder(Edge(settings))) as cdn:
            assert (await _size(await cdn.client.get("/hdr.jpg?w=300")))[0] == 300
            response = await cdn.client.get("/hdr.jpg?w=310&x=1", allow_redirects=False)
            if outside == "refuse":
                assert response.status == 400
                assert await response.text() == (
                    "Invalid size: 310 px is not served here: 150, 300, 768, 1024, 1536, 2048."
                )
            elif outside == "redirect":
                assert response.status == 302
                assert response.headers["Location"] == "/hdr.jpg?w=300"
                assert response.headers["Cache-Control"] == f"public, max-age={settings.error_ttl}"
                zoomed = await cdn.client.get("/hdr.jpg?w=200&zoom=2", allow_redirects=False)
                assert zoomed.headers["Location"] == "/hdr.jpg?quality=51&w=300"
            else:
                assert (await _size(response))[0] == 300
                assert response.headers["x-tachyon"] == "hit", "the nearest allowed derivative, not a new one"
        assert len(_stored(s3_client, bucket)) == 1

    run(test)
