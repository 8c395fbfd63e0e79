"""Purge: delete every derivative of one original.

All derivatives of an original live under ``original_prefix(key)`` (which ends
with ``/``, so ``a.jpg`` never touches ``a.jpg2``'s): a purge is one prefix
listing and one DeleteObjects per 1,000 keys.

``tachyon.s3_event`` takes an S3 event notification (the JSON S3 sends to SQS,
SNS, Lambda or EventBridge-as-S3-format) and purges the derivatives of every
original that was created (replaced) or removed, so a replaced original never
keeps old derivatives. Keys in these events are URL-encoded with ``+`` for
spaces. Events on derivative keys and on non-image keys are ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote_plus

from core.formats import format_of_path
from core.jobs import PURGE_TASK, S3_EVENT_TASK, PurgeJob
from core.keys import original_prefix
from core.settings import Settings
from worker.app import app, current_settings
from worker.s3 import RETRY_POLICY, delete_keys, list_pages, s3_client

log = logging.getLogger("tachyon.worker")


def purge_original(settings: Settings, bucket: str, original_key: str) -> int:
    """Delete every derivative of ``original_key``; returns how many were deleted."""
    s3 = s3_client(settings)
    prefix = original_prefix(original_key, settings.derivative_prefix)

    def keys() -> Iterator[str]:
        for page in list_pages(s3, bucket, prefix):
            yield from page

    count = delete_keys(s3, bucket, keys())
    log.info("purged %d derivatives of s3://%s/%s", count, bucket, original_key)
    return count


def count_derivatives(settings: Settings, bucket: str, original_key: str) -> int:
    """How many derivatives of ``original_key`` are stored (nothing is deleted)."""
    prefix = original_prefix(original_key, settings.derivative_prefix)
    return sum(len(page) for page in list_pages(s3_client(settings), bucket, prefix))


def originals_in_event(event: Mapping[str, Any], derivative_prefix: str) -> list[tuple[str, str]]:
    """(bucket, original key) of every ObjectCreated/ObjectRemoved record on an original image."""
    found: list[tuple[str, str]] = []
    for record in event.get("Records") or ():
        name = str(record.get("eventName", ""))
        if not name.startswith(("ObjectCreated:", "ObjectRemoved:")):
            continue
        s3 = record.get("s3") or {}
        bucket = (s3.get("bucket") or {}).get("name")
        raw_key = (s3.get("object") or {}).get("key")
        if not bucket or not raw_key:
            continue
        key = unquote_plus(str(raw_key))
        if key.startswith(derivative_prefix) or format_of_path(key) is None:
            continue
        found.append((str(bucket), key))
    return found


@app.task(name=PURGE_TASK, **RETRY_POLICY)  # type: ignore[untyped-decorator]
def purge(**kwargs: Any) -> int:
    """Delete every derivative of one original."""
    job = PurgeJob.from_kwargs(kwargs)
    return purge_original(current_settings(), job.bucket, job.original_key)


@app.task(name=S3_EVENT_TASK, **RETRY_POLICY)  # type: ignore[untyped-decorator]
def s3_event(event: dict[str, Any]) -> int:
    """Purge the derivatives of the originals an S3 event notification names."""
    settings = current_settings()
    return sum(
        purge_original(settings, bucket, key)
        for bucket, key in originals_in_event(event, settings.derivative_prefix)
    )
