"""The budgets' adapter: counts in Redis, the DynamoDB job table or this process (``core.budget``).

``Budgets.admit`` is asked on every miss before anything is rendered or enqueued,
``Budgets.queue_full`` before a job is sent. Either returns a short reason when the
budget is spent (the edge then serves the original as a fallback, ``budget`` in the
log line) or None. A failing store admits: a budget must not take the site down
with Redis; the claim that follows fails on its own if the store is really gone.
Both checks wait only for the invocation's time left (``edge.deadline``).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from core.budget import ADMIT_SCRIPT, budget_key, count_request, member
from core.clients import redis_options
from core.jobs import LIVE_QUEUE, sqs_queue_name
from core.s3errors import error_code
from edge import deadline

if TYPE_CHECKING:
    from core.settings import Settings

#: How long a queue depth read from SQS is reused (each read is an API call).
DEPTH_TTL = 5.0


class Budgets:
    """One edge's budget checks; clients are made on first use (a hit makes none)."""

    def __init__(self, settings: Settings, *, redis: Any | None = None) -> None:
        self._settings = settings
        self._redis = redis
        self._own_redis = False
        self._lock = asyncio.Lock()
        self._local: dict[str, set[str]] = {}
        self._aws: dict[str, Any] = {}
        self._depth: tuple[float, int] | None = None

    async def _client(self) -> Any | None:
        url = self._settings.effective_lock_url
        if self._redis is None and url:
            async with self._lock:
                if self._redis is None:
                    from redis.asyncio import Redis

                    self._redis, self._own_redis = Redis.from_url(url, **redis_options("edge")), True
        return self._redis

    async def admit(self, bucket: str, original_key: str, derivative_key: str) -> str | None:
        """None when this derivative is within the original's budget (counting it), else why not."""
        limit = self._settings.max_derivatives_per_original
        if limit <= 0:
            return None
        try:
            work = self._admit(bucket, original_key, derivative_key, limit)
            admitted = await deadline.bound(work, "derivative budget")
        except Exception:  # the store is down or out of time: admit (docs/security.md)
            return None
        return None if admitted else f"budget: the original already has {limit} derivatives"

    async def _admit(self, bucket: str, original_key: str, derivative_key: str, limit: int) -> bool:
        settings = self._settings
        redis = await self._client()
        if redis is not None:
            key, one = budget_key(bucket, original_key), member(derivative_key)
            return bool(await redis.eval(ADMIT_SCRIPT, 1, key, one, limit, settings.budget_window))
        if settings.job_table:
            return await asyncio.to_thread(self._admit_table, bucket, original_key, derivative_key, limit)
        held = self._local.setdefault(budget_key(bucket, original_key), set())
        if member(derivative_key) in held or len(held) < limit:
            held.add(member(derivative_key))
            return True
        return False

    def _admit_table(self, bucket: str, original_key: str, derivative_key: str, limit: int) -> bool:
        settings = self._settings
        assert settings.job_table
        request = count_request(settings.job_table, bucket, original_key, derivative_key,
                                limit=limit, now=time.time(), window=settings.budget_window)  # fmt: skip
        try:
            self._aws_client("dynamodb").update_item(**request)
        except Exception as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _aws_client(self, service: str) -> Any:
        if service not in self._aws:
            from edge.aws import client

            self._aws[service] = client(self._settings, service)
        return self._aws[service]

    async def queue_full(self) -> str | None:
        """None while the live queue holds fewer than ``max_pending_jobs`` jobs, else why not."""
        limit = self._settings.max_pending_jobs
        if limit <= 0:
            return None
        try:
            depth = await deadline.bound(self._queue_depth(), "queue budget")
        except Exception:  # as above: admit
            return None
        if depth is None or depth < limit:
            return None
        return f"budget: {depth} jobs are waiting on the {LIVE_QUEUE} queue (at most {limit})"

    async def _queue_depth(self) -> int | None:
        settings = self._settings
        if settings.sqs:
            now = time.monotonic()
            if self._depth is None or now - self._depth[0] > DEPTH_TTL:
                self._depth = (now, await asyncio.to_thread(self._sqs_depth))
            return self._depth[1]
        if settings.broker_url.startswith(("redis://", "rediss://")):
            redis = await self._broker()
            return int(await redis.llen(LIVE_QUEUE))
        return None  # an in-memory broker: nothing is shared to count

    async def _broker(self) -> Any:
        if self._settings.broker_url == self._settings.effective_lock_url:
            client = await self._client()
            if client is not None:
                return client
        if "broker" not in self._aws:
            from redis.asyncio import Redis

            self._aws["broker"] = Redis.from_url(self._settings.broker_url, **redis_options("edge"))
        return self._aws["broker"]

    def _sqs_depth(self) -> int:
        sqs = self._aws_client("sqs")
        url = (
            self._settings.queue_urls.get(LIVE_QUEUE)
            or sqs.get_queue_url(QueueName=sqs_queue_name(LIVE_QUEUE, self._settings.queue_prefix))[
                "QueueUrl"
            ]
        )
        got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(got["Attributes"]["ApproximateNumberOfMessages"])

    async def close(self) -> None:
        """Close the clients this object made."""
        if self._own_redis and self._redis is not None:
            await self._redis.aclose()
        self._redis = None
        broker = self._aws.pop("broker", None)
        if broker is not None:
            await broker.aclose()
        for client in self._aws.values():
            await asyncio.to_thread(client.close)
        self._aws.clear()
