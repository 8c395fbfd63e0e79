"""S3, Redis and the other AWS clients for the worker: thin, synchronous, fork-safe adapters.

Celery tasks are synchronous, so the worker calls boto3 directly. Clients are
made lazily per process (a boto3 client or a Redis pool must not cross ``fork``
into a pool process) with the options of ``core.clients``. What an error means
is ``core.s3errors``'s rule, the same as the edge's: a missing key (404, or 403
without ListBucket) is ``OriginalMissing`` / ``None``; throttling, timeouts, 5xx
and dropped connections are ``TransientError``, which every task retries with
backoff (``RETRY_POLICY``); everything else propagates as it is.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from celery.exceptions import SoftTimeLimitExceeded
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.clients import aws_options, redis_options, s3_options
from core.objects import put_fields
from core.s3errors import describe, meaning
from core.settings import Settings


class TransientError(Exception):
    """An S3 or Redis failure that a later attempt may not meet."""


#: How every task retries a ``TransientError``: exponential backoff with jitter, bounded.
MAX_RETRIES = 6
RETRY_POLICY: dict[str, Any] = {
    "autoretry_for": (TransientError,),
    "retry_backoff": 2,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    "max_retries": MAX_RETRIES,
    "acks_late": True,
}


SOFT_LIMIT_IN_S3 = "S3 did not answer before the soft time limit"


class OriginalMissing(Exception):
    """The original is not (or no longer) in the bucket."""


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is throttling, a timeout, a 5xx or a dropped connection."""
    return meaning(error) == "transient"


@contextmanager
def transient_as_retryable() -> Iterator[None]:
    """Turn retry-worthy S3/Redis errors into ``TransientError`` for ``autoretry_for``.

    The soft time limit arriving while S3 has not answered is one of them: the
    task is retried later rather than recorded as a render too slow to try for an hour.
    """
    try:
        yield
    except SoftTimeLimitExceeded as error:
        raise TransientError(SOFT_LIMIT_IN_S3) from error
    except (ClientError, BotoCoreError, redis.RedisError) as error:
        if isinstance(getattr(error, "kwargs", {}).get("error"), SoftTimeLimitExceeded):
            # botocore wraps what its HTTP client raised, the soft limit's exception included
            raise TransientError(SOFT_LIMIT_IN_S3) from error
        if is_transient(error):
            raise TransientError(describe(error)) from error
        raise


_clients: dict[str, Any] = {}


def reset() -> None:
    """Forget this process's clients (new settings, or a freshly forked process)."""
    _clients.clear()


def s3_client(settings: Settings) -> Any:
    """This process's boto3 S3 client for ``settings`` (adaptive retries, bounded timeouts)."""
    key = f"{os.getpid()}:s3:{id(settings)}"
    client = _clients.get(key)
    if client is None:
        import boto3

        client_kwargs, config = s3_options(settings, "worker")
        client = boto3.session.Session().client("s3", config=Config(**config), **client_kwargs)
        _clients[key] = client
    return client


def aws_client(settings: Settings, service: str) -> Any:
    """This process's boto3 client of ``service`` (sqs, dynamodb, cloudfront) for ``settings``.

    Named for ``queue_region`` (CloudFront: us-east-1); the endpoint comes from
    boto3's ``AWS_ENDPOINT_URL_<SERVICE>`` variables when set (moto, LocalStack).
    """
    key = f"{os.getpid()}:{service}:{id(settings)}"
    client = _clients.get(key)
    if client is None:
        import boto3

        client_kwargs, config = aws_options(settings, "worker", service)
        session: Any = boto3.session.Session()  # ``service`` is not a literal the stubs know
        client = session.client(service, config=Config(**config), **client_kwargs)
        _clients[key] = client
    return client


def lock_client(settings: Settings) -> redis.Redis | None:
    """Redis holding pending/failed job keys and batch progress; None without one."""
    url = settings.effective_lock_url
    if url is None:
        return None
    key = f"{os.getpid()}:redis:{url}"
    client = _clients.get(key)
    if client is None:
        # A pooled connection found dead (Redis restarted) is replaced and the command sent again once.
        retry = Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,))
        client = redis.Redis.from_url(url, retry=retry, retry_on_error=[redis.ConnectionError],
                                      **redis_options("worker"))  # fmt: skip
        _clients[key] = client
    return client


@dataclass(frozen=True, slots=True)
class Original:
    """An original opened for reading: its ETag and size before any byte is read."""

    etag: str
    size: int
    body: Any  # botocore StreamingBody

    def read(self) -> bytes:
        """All the bytes (the size was checked against the limit by the caller)."""
        with transient_as_retryable():
            return bytes(self.body.read())

    def close(self) -> None:
        """Drop the connection without reading the rest."""
        self.body.close()


def open_original(s3: Any, bucket: str, key: str) -> Original:
    """GET the original; raises ``OriginalMissing`` when it is absent."""
    with transient_as_retryable():
        try:
            response = s3.get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if meaning(error) == "missing":
                raise OriginalMissing(f"original not found: s3://{bucket}/{key}") from None
            raise
    return Original(str(response.get("ETag", "")), int(response.get("ContentLength", 0)), response["Body"])


def head_metadata(s3: Any, bucket: str, key: str) -> dict[str, str] | None:
    """The user metadata of an object, or None when it does not exist."""
    with transient_as_retryable():
        try:
            response = s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if meaning(error) == "missing":
                return None
            raise
    return dict(response.get("Metadata") or {})


def put_derivative(s3: Any, bucket: str, key: str, data: bytes, *, fmt: str, original_etag: str) -> None:
    """Write one derivative, atomically and verified.

    S3 PutObject is all-or-nothing: readers see the old object or the new one,
    never part of it. ``ContentMD5`` makes S3 refuse a body corrupted on the way.
    """
    digest = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
    with transient_as_retryable():
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentMD5=digest, **put_fields(fmt, original_etag))


def list_pages(
    s3: Any, bucket: str, prefix: str, *, start_after: str | None = None, skip_prefix: str | None = None
) -> Iterator[list[str]]:
    """The keys under ``prefix``, one ListObjectsV2 page (≤ 1,000 keys) at a time.

    Keys under ``skip_prefix`` (the derivatives) are jumped over with one new
    listing that starts after them, so a bucket with millions of derivatives
    does not list them all.
    """
    skipping = bool(skip_prefix) and not prefix.startswith(skip_prefix or "")
    after = start_after
    token: str | None = None
    while True:
        request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 1000}
        if token:
            request["ContinuationToken"] = token
        elif after:
            request["StartAfter"] = after
        with transient_as_retryable():
            response = s3.list_objects_v2(**request)
        keys = [item["Key"] for item in response.get("Contents", ())]
        truncated = bool(response.get("IsTruncated"))
        jump = False
        if skipping and skip_prefix:
            kept = [k for k in keys if not k.startswith(skip_prefix)]
            jump = truncated and bool(keys) and keys[-1].startswith(skip_prefix)
            keys = kept
        if keys:
            yield keys
        if jump and skip_prefix:
            # The rest of skip_prefix is derivatives: list on from just past all of them
            # (U+10FFFF sorts after every other character, in UTF-8 byte order too).
            token, after = None, skip_prefix + "\U0010ffff"
            continue
        if not truncated:
            return
        token = response.get("NextContinuationToken")


def delete_keys(s3: Any, bucket: str, keys: Iterable[str]) -> int:
    """Delete keys in batches of 1,000 (one DeleteObjects each); returns how many."""
    batch: list[str] = []
    count = 0

    def flush() -> int:
        with transient_as_retryable():
            response = s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
        errors = response.get("Errors") or []
        if errors:
            first = errors[0]
            raise TransientError(
                f"{len(errors)} deletes failed, e.g. {first.get('Key')}: {first.get('Code')}"
            )
        return len(batch)

    for key in keys:
        batch.append(key)
        if len(batch) == 1000:
            count += flush()
            batch = []
    if batch:
        count += flush()
    return count
