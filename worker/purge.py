"""Purge: delete every derivative of one original.

All derivatives of an original live under ``original_prefix(key)`` (which ends
with ``/``, so ``a.jpg`` never touches ``a.jpg2``'s): a purge is one prefix
listing and one DeleteObjects per 1,000 keys.

``tachyon.s3_event`` takes an S3 event notification (as S3 sends it to SQS,
SNS, Lambda or EventBridge: ``core.changes`` reads them all) and purges the
derivatives of every original that was created (replaced) or removed.
Events on derivative keys and on non-image keys are ignored. On AWS the purge
function (``purger``) does this from the bucket's notifications directly, and
invalidates CloudFront too; this task is for setups that forward events to Celery.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from core.changes import originals_changed
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


@app.task(name=PURGE_TASK, **RETRY_POLICY)  # type: ignore[untyped-decorator]
def purge(**kwargs: Any) -> int:
    """Delete every derivative of one original."""
    job = PurgeJob.from_kwargs(kwargs)
    return purge_original(current_settings(), job.bucket, job.original_key)


@app.task(name=S3_EVENT_TASK, **RETRY_POLICY)  # type: ignore[untyped-decorator]
def s3_event(event: dict[str, Any]) -> int:
    """Purge the derivatives of the originals an S3 event notification names."""
    settings = current_settings()
    originals = {(c.bucket, c.key) for c in originals_changed(event, settings.derivative_prefix)}
    return sum(purge_original(settings, bucket, key) for bucket, key in sorted(originals))
