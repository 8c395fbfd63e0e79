"""Purge: `tachyon-edge purge KEY` and S3 event notifications remove one original's derivatives only."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from click.testing import CliRunner

from cli import main
from core.args import parse_query
from core.keys import DEFAULT_PREFIX, derivative_key
from core.settings import Settings
from tests.helpers import LIMITS


def put_derivatives(s3: Any, bucket: str, original: str, widths: range) -> list[str]:
    keys = []
    for width in widths:
        transform = parse_query(f"w={width}", LIMITS)
        assert transform is not None
        keys.append(derivative_key(original, transform, "jpeg"))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b"x"), keys))
    return keys


def all_keys(s3: Any, bucket: str) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {item["Key"] for page in pages for item in page.get("Contents", ())}


def test_purge_removes_one_originals_derivatives_and_nothing_else(
    s3_client: Any, bucket: str, s3_endpoint: str
) -> None:
    for original in ("a.jpg", "a.jpg2", "dir/a.jpg"):
        s3_client.put_object(Bucket=bucket, Key=original, Body=b"original")
    gone = put_derivatives(s3_client, bucket, "a.jpg", range(1, 1101))  # > 1,000: two DeleteObjects
    kept = put_derivatives(s3_client, bucket, "a.jpg2", range(1, 4))
    kept += put_derivatives(s3_client, bucket, "dir/a.jpg", range(1, 3))

    result = CliRunner().invoke(main, ["purge", "/a.jpg", "--bucket", bucket, "--s3-endpoint", s3_endpoint])

    assert result.exit_code == 0, result.output
    assert "deleted 1100 derivative(s) of" in result.output
    assert all_keys(s3_client, bucket) == {"a.jpg", "a.jpg2", "dir/a.jpg", *kept}
    assert not set(gone) & all_keys(s3_client, bucket)


def s3_event(bucket: str, name: str, key: str) -> dict[str, Any]:
    """An S3 event notification record as S3 sends it (key URL-encoded, '+' for spaces)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventName": name,
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": key, "size": 1024, "eTag": "abc", "sequencer": "0055AED6DCD90281E5"},
                },
            }
        ]
    }


@pytest.fixture
def configured(s3_endpoint: str, redis_url: str) -> None:
    """The worker app in this process, pointed at moto (the tasks read these settings)."""
    from worker.app import configure

    configure(Settings(s3_endpoint=s3_endpoint, broker_url=redis_url))


def test_s3_events_purge_replaced_and_removed_originals(
    configured: None, s3_client: Any, bucket: str
) -> None:
    from worker.purge import s3_event as handle

    replaced = put_derivatives(s3_client, bucket, "photos/my photo.jpg", range(1, 4))
    removed = put_derivatives(s3_client, bucket, "photos/old.png", range(1, 3))
    other = put_derivatives(s3_client, bucket, "photos/other.jpg", range(1, 3))

    assert handle(s3_event(bucket, "ObjectCreated:Put", "photos/my+photo.jpg")) == 3
    assert handle(s3_event(bucket, "ObjectRemoved:Delete", "photos/old.png")) == 2
    # Events on derivatives (written by the worker itself) and on other kinds are ignored.
    on_derivative = other[0].replace(" ", "+")
    assert handle(s3_event(bucket, "ObjectCreated:Put", on_derivative)) == 0
    assert handle(s3_event(bucket, "ObjectRestore:Completed", "photos/other.jpg")) == 0
    assert handle({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": bucket}) == 0

    left = all_keys(s3_client, bucket)
    assert not (set(replaced) | set(removed)) & left
    assert set(other) <= left
    assert all(k.startswith(DEFAULT_PREFIX) for k in left)


def test_listing_originals_jumps_over_thousands_of_derivatives(s3_client: Any, bucket: str) -> None:
    """``_derivatives/`` sorts between upper- and lower-case keys: a page that ends inside it
    restarts the listing just past it, so 2,500 derivatives cost no extra pages."""
    from worker.s3 import list_pages

    for original in ("A.jpg", "a.jpg", "b.jpg"):
        s3_client.put_object(Bucket=bucket, Key=original, Body=b"original")
    put_derivatives(s3_client, bucket, "A.jpg", range(1, 2501))
    calls: list[dict[str, Any]] = []
    event = "before-parameter-build.s3.ListObjectsV2"

    def count(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    s3_client.meta.events.register(event, count)
    try:
        pages = list(list_pages(s3_client, bucket, "", skip_prefix=DEFAULT_PREFIX))
    finally:
        s3_client.meta.events.unregister(event, count)
    assert pages == [["A.jpg"], ["a.jpg", "b.jpg"]]
    assert len(calls) == 2
    assert calls[1]["StartAfter"] == DEFAULT_PREFIX + "\U0010ffff"
