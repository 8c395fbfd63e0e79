"""How every S3 and Redis client is configured, decided in one place.

The core builds no client (it does no I/O): the adapters (``edge.s3``,
``worker.s3``, the local CloudFront) pass these options to botocore and redis.
The edge's budget is tight (one deadline inside Lambda@Edge's 30 s), the
worker's generous (it retries with backoff around every call).
"""

from __future__ import annotations

from typing import Any, Literal

from core.settings import Settings

Role = Literal["edge", "worker", "local"]

_TIMEOUTS: dict[Role, tuple[float | None, float | None, int, int]] = {
    # connect, read (None: settings.s3_timeout), attempts, pool size
    "edge": (None, None, 2, 64),
    "worker": (10.0, 60.0, 3, 32),
    "local": (5.0, 60.0, 2, 32),
}


def timeouts(settings: Settings, role: Role) -> tuple[float, float, int]:
    """``(connect, read, attempts)`` of one S3 call for ``role``.

    - edge: within the invocation's deadline (``edge_deadline``, docs/edge.md
      "Deadline"): connect ≤ a fifth of it, read ≤ a third, two attempts;
      ``edge.deadline`` also cuts whatever is left when the time is up.
    - worker: one call's attempts take at most half the soft time limit
      (connect ≤ 1/24, read ≤ 1/8 of it, three attempts), so a slow S3 ends
      a task as a retryable timeout before the limits (docs/worker.md, "Faults").
    """
    connect, read, attempts, _ = _TIMEOUTS[role]
    if role == "edge":
        budget = settings.edge_deadline
        return min(settings.s3_timeout, budget / 5), min(settings.s3_timeout, budget / 3), attempts
    if role == "worker":
        soft = settings.task_soft_time_limit
        return min(connect or 10.0, soft / 24), min(read or 60.0, soft / 8), attempts
    return connect or settings.s3_timeout, read or settings.s3_timeout, attempts


def s3_options(settings: Settings, role: Role) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(client kwargs, botocore Config kwargs)`` for an S3 client of ``role``.

    A custom endpoint (MinIO, moto) gets path-style addressing: a bucket name
    as a host name only resolves on AWS.
    """
    connect, read, attempts = timeouts(settings, role)
    pool = _TIMEOUTS[role][3]
    config: dict[str, Any] = {
        "signature_version": "s3v4",
        "connect_timeout": connect,
        "read_timeout": read,
        "retries": {"max_attempts": attempts, "mode": "standard"},
        "max_pool_connections": pool,
    }
    if settings.s3_endpoint:
        config["s3"] = {"addressing_style": "path"}
    return {"region_name": settings.region, "endpoint_url": settings.s3_endpoint}, config


def aws_options(settings: Settings, role: Role, service: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(client kwargs, botocore Config kwargs)`` for an SQS, DynamoDB or CloudFront client.

    The region is always named: a Lambda@Edge replica runs in the region
    nearest the viewer (its ``AWS_REGION``), but the queues and the job table
    are in ``queue_region``. CloudFront's API lives in us-east-1. Endpoints
    come from botocore's own ``AWS_ENDPOINT_URL_<SERVICE>`` variables
    (moto, LocalStack), never from a setting: Lambda@Edge always talks to AWS.
    """
    connect, read, attempts, pool = _TIMEOUTS[role]
    timeout = min(settings.s3_timeout, settings.edge_deadline / 3) if role == "edge" else (connect or 10.0)
    config: dict[str, Any] = {
        "connect_timeout": timeout,
        "read_timeout": timeout if role == "edge" else (read or 60.0),
        "retries": {"max_attempts": attempts, "mode": "standard"},
        "max_pool_connections": pool,
    }
    region = "us-east-1" if service == "cloudfront" else settings.effective_queue_region
    return {"region_name": region}, config


def redis_options(role: Role) -> dict[str, Any]:
    """Keyword arguments for ``Redis.from_url`` (sync or asyncio) of ``role``."""
    timeout = 2.0 if role == "edge" else 10.0
    return {"socket_connect_timeout": timeout, "socket_timeout": timeout}
