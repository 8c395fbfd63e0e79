"""Size sets: a miss on one member of the configured set renders the set's missing members too.

Real parts: the local CloudFront (origin group) running the real edge, moto's S3
behind the request log of ``tests.s3log``, Redis for the edge's locks, and for the
queued case a real Celery worker process. What a site notices: after the first
``srcset`` request, the page's others are served from S3 without the function
reading the original again, and each stored derivative decodes at its size.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from core.args import parse_query
from core.keys import derivative_key
from core.settings import Settings
from core.sizesets import WORDPRESS, expand, siblings
from tests.helpers import LIMITS, noisy_jpeg
from tests.local import run
from tests.s3log import S3Log
from tests.test_origin_group import distribution, miss, upload
from tests.worker_process import WorkerProcess, running_worker, wait_for

#: What WordPress prints for a 2400×1600 upload: (query, size) per srcset entry.
SRCSET = [
    ("resize=150,150", (150, 150)), ("fit=300,300", (300, 200)), ("w=768", (768, 512)),
    ("fit=1024,1024", (1024, 683)), ("fit=1536,1536", (1536, 1024)), ("fit=2048,2048", (2048, 1365)),
]  # fmt: skip


def settings_for(s3log: S3Log, bucket: str, redis_url: str, **extra: Any) -> Settings:
    options: dict[str, Any] = {"size_set": WORDPRESS, **extra}
    return Settings(
        bucket=bucket, s3_endpoint=s3log.endpoint, broker_url=redis_url, lock_url=redis_url, **options
    )


def stored_size(s3_client: Any, bucket: str, key: str) -> tuple[int, int] | None:
    try:
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3_client.exceptions.NoSuchKey:
        return None
    picture = Image.open(io.BytesIO(body))
    picture.load()
    return picture.size


def key_of(original: str, query: str) -> str:
    transform = parse_query(query, LIMITS)
    assert transform is not None
    return derivative_key(original, transform, "jpeg")


def test_members_and_their_siblings() -> None:
    member = parse_query("fit=300%2C300", LIMITS)  # WordPress's escaped comma is the same member
    assert member is not None
    others = [q for q, _t in siblings(member, WORDPRESS, LIMITS)]
    assert others == [q for q in WORDPRESS if q != "fit=300,300"]
    other = parse_query("fit=300,300&quality=60", LIMITS)
    assert other is not None and siblings(other, WORDPRESS, LIMITS) == []
    assert expand("w=768", WORDPRESS, LIMITS)[0] == "w=768" and len(expand("w=768", WORDPRESS, LIMITS)) == 6
    assert expand("w=500", WORDPRESS, LIMITS) == ["w=500"]
    assert expand("w=768", (), LIMITS) == ["w=768"]
    with pytest.raises(ValueError, match="Invalid w"):
        Settings(size_set=("w=big",))


def test_a_srcset_after_its_first_request_is_served_from_s3_without_the_function(
    s3log: S3Log, s3_client: Any, bucket: str, redis_url: str
) -> None:
    upload(s3_client, bucket, "uploads/set.jpg", noisy_jpeg(2400, 1600), ContentType="image/jpeg")
    settings = settings_for(s3log, bucket, redis_url)

    async def test() -> None:
        async with distribution(settings, s3log) as view:
            first = await miss(view, "/uploads/set.jpg?w=768")
            assert (first.status, first.outcome, first.failover) == (200, "rendered", True)
            gets = [line for line in first.function if line.startswith("GET uploads/set.jpg")]
            assert gets == ["GET uploads/set.jpg 200"]  # one read of the original for the whole set
            assert sum(line.startswith("PUT ") for line in first.function) == len(SRCSET)
            for query, _size in SRCSET[1:]:
                later = await miss(view, f"/uploads/set.jpg?{query}")
                assert (later.status, later.outcome, later.failover) == (200, "hit", False)
                assert later.function == []  # the function asked S3 nothing
        for query, size in SRCSET:
            assert stored_size(s3_client, bucket, key_of("uploads/set.jpg", query)) == size

    run(test)


def test_a_request_outside_the_set_renders_only_itself(
    s3log: S3Log, s3_client: Any, bucket: str, redis_url: str
) -> None:
    upload(s3_client, bucket, "uploads/lone.jpg", noisy_jpeg(1600, 1200), ContentType="image/jpeg")
    settings = settings_for(s3log, bucket, redis_url)

    async def test() -> None:
        async with distribution(settings, s3log) as view:
            first = await miss(view, "/uploads/lone.jpg?w=500")
            assert first.outcome == "rendered"
            assert [line for line in first.function if line.startswith("PUT ")] == [
                f"PUT {key_of('uploads/lone.jpg', 'w=500')} 200"
            ]

    run(test)


def test_existing_members_are_left_alone_and_edge_rendering_can_be_turned_off(
    s3log: S3Log, s3_client: Any, bucket: str, redis_url: str
) -> None:
    upload(s3_client, bucket, "uploads/some.jpg", noisy_jpeg(2400, 1600), ContentType="image/jpeg")

    async def test() -> None:
        off = settings_for(s3log, bucket, redis_url, size_set_at_edge=False)
        async with distribution(off, s3log) as view:
            alone = await miss(view, "/uploads/some.jpg?fit=300,300")
            assert sum(line.startswith("PUT ") for line in alone.function) == 1
        async with distribution(settings_for(s3log, bucket, redis_url), s3log) as view:
            rest = await miss(view, "/uploads/some.jpg?w=768")
            puts = [line for line in rest.function if line.startswith("PUT ")]
            assert len(puts) == len(SRCSET) - 1  # fit=300,300 exists and is fresh: not written again
            assert f"PUT {key_of('uploads/some.jpg', 'fit=300,300')} 200" not in puts

    run(test)


@pytest.fixture(scope="module")
def set_worker(redis_url: str, s3_endpoint: str) -> Iterator[WorkerProcess]:
    env = {"TACHYON_BROKER_URL": redis_url, "TACHYON_S3_ENDPOINT": s3_endpoint, "TACHYON_LOCK_URL": "",
           "TACHYON_SIZE_SET": '["resize=150,150", "fit=300,300", "w=768"]'}  # fmt: skip
    with running_worker(env, queues=("derivatives",), concurrency=1) as proc:
        yield proc


@pytest.mark.slow
def test_a_queued_member_has_the_worker_render_the_set(
    set_worker: WorkerProcess, s3log: S3Log, s3_client: Any, bucket: str, redis_url: str
) -> None:
    upload(s3_client, bucket, "uploads/big.jpg", noisy_jpeg(2400, 1600), ContentType="image/jpeg")
    settings = settings_for(s3log, bucket, redis_url, sync_max_bytes=1000,
                            size_set=("resize=150,150", "fit=300,300", "w=768"))  # fmt: skip

    async def test() -> None:
        async with distribution(settings, s3log) as view:
            queued = await miss(view, "/uploads/big.jpg?fit=300,300")
            assert queued.outcome == "queued"

    run(test)
    for query, size in SRCSET[:3]:
        key = key_of("uploads/big.jpg", query)

        def stored(key: str = key) -> tuple[int, int] | None:
            return stored_size(s3_client, bucket, key)

        assert wait_for(stored, 60, what=key) == size
