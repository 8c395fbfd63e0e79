"""Lambda entry point of the purge function: ``purger.handler.handler(event, context)``.

Wiring (docs/deploy.md): the bucket sends ``s3:ObjectCreated:*`` and
``s3:ObjectRemoved:*`` to the SQS queue ``tachyon-events``; that queue is the
function's event source, with a batching window (many originals per call)
and ``ReportBatchItemFailures``; the function's reserved concurrency is 1, so
one invalidation at a time is in flight from it. Per call:

1. read every message (S3, SNS-wrapped or EventBridge shapes, ``core.changes``),
   keeping originals only — a derivative written never purges anything;
2. delete each changed original's derivatives that its last change outdates
   (one listing of its prefix, one ``DeleteObjects`` per 1,000 keys; a HEAD
   only for a derivative written since the change, which is kept when it was
   made from the new bytes: a render that raced the event);
3. with ``cloudfront_distribution_id`` set, one invalidation for the
   originals that had derivatives, coalesced into the wildcard budget
   (``purger.cdn``). An original without derivatives (a new upload) has no
   derivative URL in any cache, and costs no invalidation path.

A message whose purge failed is reported back (``batchItemFailures``) and
comes again after the queue's visibility timeout; one that cannot be read is
logged and dropped, since reading it again will not help. Configured by
``TACHYON_*`` environment variables (a regular Lambda has them). The event
may also be a bare S3 notification or EventBridge event (S3 or EventBridge
invoking the function directly), at the cost of one invalidation per event.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.config import Config
from botocore.session import get_session

from core.changes import Change, cdn_path, latest, originals_changed
from core.clients import aws_options, s3_options
from core.keys import original_prefix
from core.objects import ORIGINAL_ETAG
from core.s3errors import describe, meaning
from core.settings import Settings, get_settings
from purger.cdn import invalidate

log = logging.getLogger("tachyon.purge")
if log.level == logging.NOTSET:
    log.setLevel(logging.INFO)

_clients: dict[str, Any] = {}
_configured: dict[str, Settings] = {}


def configure(settings: Settings) -> None:
    """Use ``settings`` instead of the environment's (tests, the ``purge-events`` consumer)."""
    _configured["settings"] = settings
    _clients.clear()


def current_settings() -> Settings:
    """The settings in force: configured, else ``TACHYON_*`` from the environment."""
    return _configured.get("settings") or get_settings()


def client(settings: Settings, service: str) -> Any:
    """A botocore client of ``service`` for this container (made once, reused)."""
    key = f"{service}:{id(settings)}"
    if key not in _clients:
        if service == "s3":
            kwargs, config = s3_options(settings, "worker")
        else:
            kwargs, config = aws_options(settings, "worker", service)
        _clients[key] = get_session().create_client(service, config=Config(**config), **kwargs)
    return _clients[key]


@dataclass
class Outcome:
    """What one call did, for the log line and the caller."""

    originals: int = 0
    deleted: int = 0
    failed: list[str] = field(default_factory=list)  # message ids to retry
    incomplete: bool = False  # something failed (a bare event has no id to report)
    invalidation: str | None = None
    paths: list[str] = field(default_factory=list)


def messages(event: Any) -> list[tuple[str | None, Any]]:
    """(message id, decoded body) of each SQS record; a bare S3/EventBridge event is one message."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not records or any(r.get("eventSource") != "aws:sqs" for r in records):
        return [(None, event)]
    out: list[tuple[str | None, Any]] = []
    for record in records:
        try:
            body = json.loads(record.get("body") or "")
        except ValueError:
            body = None
        out.append((record.get("messageId"), body))
    return out


def _pages(s3: Any, bucket: str, prefix: str) -> Iterator[list[dict[str, Any]]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield list(page.get("Contents") or ())


def outdated(s3: Any, change: Change, item: dict[str, Any]) -> bool:
    """Whether one listed derivative predates the change (a HEAD only for those written since)."""
    if change.predates(item["LastModified"].timestamp()):
        return True
    try:
        head = s3.head_object(Bucket=change.bucket, Key=item["Key"])
    except Exception as error:
        if meaning(error) == "missing":
            return False
        raise
    return not change.wrote((head.get("Metadata") or {}).get(ORIGINAL_ETAG))


def delete_derivatives(settings: Settings, change: Change) -> int:
    """Delete the derivatives of one original that its change outdates; returns how many."""
    s3, count = client(settings, "s3"), 0
    for page in _pages(s3, change.bucket, original_prefix(change.key, settings.derivative_prefix)):
        keys = [item["Key"] for item in page if outdated(s3, change, item)]
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            answer = s3.delete_objects(
                Bucket=change.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise RuntimeError(
                    f"{len(answer['Errors'])} deletes failed, e.g. {first.get('Key')}: {first}"
                )
            count += len(batch)
    return count


def purge(settings: Settings, batch: list[tuple[str | None, Any]]) -> Outcome:
    """Purge the originals a batch of messages names; ``failed`` lists the messages to retry."""
    outcome = Outcome()
    changes: list[Change] = []
    carriers: dict[tuple[str, str], list[str]] = {}
    for message_id, body in batch:
        if not isinstance(body, dict):
            log.warning("dropped an event that is not a JSON object (message %s)", message_id)
            continue
        for change in originals_changed(body, settings.derivative_prefix):
            if settings.bucket and change.bucket != settings.bucket:
                continue
            changes.append(change)
            carriers.setdefault((change.bucket, change.key), []).extend([message_id] if message_id else [])
    named = latest(changes)
    failed: set[str] = set()
    purged: list[Change] = []  # originals whose derivatives were deleted (their URLs may be cached)
    done = 0
    for where, change in sorted(named.items()):
        try:
            deleted = delete_derivatives(settings, change)
        except Exception as error:
            log.warning("purge of s3://%s/%s failed: %s", change.bucket, change.key, describe(error))
            failed.update(carriers[where])
            continue
        done += 1
        outcome.deleted += deleted
        if deleted:
            purged.append(change)
    outcome.originals = done
    paths = {p for c in purged if (p := cdn_path(c.key, settings.cloudfront_origin_path)) is not None}
    reference = hashlib.sha1(
        repr(sorted(str(i) for i, _ in batch)).encode(), usedforsecurity=False
    ).hexdigest()
    if paths and settings.cloudfront_distribution_id:
        try:
            sent = invalidate(client(settings, "cloudfront"), settings, paths, reference)
        except Exception as error:  # Busy, throttling: the purged originals' messages come again
            log.warning("invalidation of %d paths not sent: %s", len(paths), describe(error))
            failed.update(i for c in purged for i in carriers[(c.bucket, c.key)])
        else:
            if sent is not None:
                outcome.invalidation, outcome.paths = sent.id, sent.paths
    outcome.failed = sorted(failed)
    outcome.incomplete = (
        bool(failed)
        or done < len(named)
        or (bool(paths) and not outcome.invalidation and bool(settings.cloudfront_distribution_id))
    )
    return outcome


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """The Lambda entry point: purge, log one JSON line, report the messages to retry."""
    started = time.perf_counter()
    batch = messages(event)
    outcome = purge(current_settings(), batch)
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    line = {"trigger": "purge", "messages": len(batch), "originals": outcome.originals,
            "deleted": outcome.deleted, "invalidation": outcome.invalidation, "paths": outcome.paths[:20],
            "retry": len(outcome.failed), "total_ms": elapsed}  # fmt: skip
    log.info(json.dumps(line))
    if outcome.incomplete and all(message_id is None for message_id, _ in batch):
        raise RuntimeError("purge incomplete; see the log line above")  # an async invocation is retried
    return {"batchItemFailures": [{"itemIdentifier": i} for i in outcome.failed]}
