"""Enqueue a render job once per derivative: claim it, then send it by task name.

The edge never imports the worker. Two steps, each with its adapter chosen
from the settings and made on the first enqueue (a hit imports none of them):

- **claim** — one job per derivative, and none while a failure is recorded:
  the Redis key ``pending_key(token)`` (NX, ``pending_ttl``) next to
  ``failed_key(token)`` when Redis is configured (``lock_url``, or a Redis
  broker); else one conditional ``UpdateItem`` on the DynamoDB ``job_table``
  (``edge.aws``); else a set in this process (``memory://`` dev mode);
- **send** — ``RENDER_TASK`` on ``LIVE_QUEUE``: one botocore ``SendMessage``
  to the SQS queue when the broker is ``sqs://`` (``edge.aws``, no Celery),
  else a sending-only Celery app (Redis).

Both steps wait at most what is left of the invocation's deadline (``edge.deadline``).
docs/edge.md and docs/worker.md say more; docs/deploy.md compares the setups.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

from core.clients import redis_options
from core.jobs import LIVE_QUEUE, RENDER_TASK, RenderJob, failed_key, failure_reason, pending_key
from edge.deadline import bound

if TYPE_CHECKING:
    from core.settings import Settings

Enqueued = Literal["queued", "pending", "failed"]


class Sent(NamedTuple):
    """What ``enqueue`` did: sent, pending (another miss sent it) or failed (recorded give-up)."""

    outcome: Enqueued
    reason: str
    task_id: str | None = None  # the Celery task id of a sent job, for the log


_apps: dict[str, Any] = {}
_apps_lock = threading.Lock()
_CONNECT_TIMEOUT = 2.0
#: Times a Redis command is sent again on a fresh connection after a dropped one.
RECONNECT_RETRIES = 1
#: Seconds an undo of a claim may take after a failed send (the key expires anyway).
RELEASE_TIMEOUT = 1.0


class QueueError(Exception):
    """The lock store or the broker failed; the viewer gets the original meanwhile."""


class Claims(Protocol):
    """Where a job is marked pending, and a give-up is read."""

    async def claim(self, job: RenderJob, token: str) -> str | None:
        """None when this miss took the job; else why not ("pending" or "worker gave up: …")."""

    async def release(self, token: str) -> None:
        """Undo a claim whose message was never sent, so the next miss tries again."""

    async def close(self) -> None:
        """Release the client's connections."""


class Sender(Protocol):
    """Where a claimed job is sent."""

    async def send(self, job: RenderJob) -> str:
        """Send the job; returns its task id."""

    async def close(self) -> None:
        """Release the client's connections."""


def celery_app(broker_url: str) -> Any:
    """A sending-only Celery app for ``broker_url``, one per process and URL."""
    with _apps_lock:
        app = _apps.get(broker_url)
        if app is None:
            from celery import Celery

            app = Celery("tachyon-edge", broker=broker_url, set_as_current=False)
            app.conf.update(
                broker_connection_timeout=_CONNECT_TIMEOUT,
                broker_connection_retry=False,
                broker_connection_max_retries=1,
                broker_transport_options={
                    "socket_connect_timeout": _CONNECT_TIMEOUT,
                    "socket_timeout": _CONNECT_TIMEOUT,
                    "max_retries": 1,
                },
                task_publish_retry_policy={
                    "max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2,
                },
                task_serializer="json",
                accept_content=["json"],
            )  # fmt: skip
            _apps[broker_url] = app
        return app


PENDING = "a job for this derivative is pending"


def redis_client(url: str) -> Any:
    """An asyncio Redis client for the lock store, with the edge's timeouts.

    A pooled connection found dead (Redis restarted, failed over) is replaced
    and the command sent again once, at once: the first miss after a restart
    still claims and sends its job (docs/edge.md, "Faults"). A timeout is not
    retried: a frozen Redis costs one socket timeout, not two.
    """
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as Dropped

    retry = Retry(NoBackoff(), RECONNECT_RETRIES, supported_errors=(Dropped,))  # not timeouts: no double wait
    return Redis.from_url(url, retry=retry, retry_on_error=[Dropped], **redis_options("edge"))


class RedisClaims:
    """``SET NX EX`` of the pending key after a look at the failure record (two round trips)."""

    def __init__(self, settings: Settings, url: str, client: Any | None = None) -> None:
        self._settings = settings
        self._url = url
        self._redis = client
        self._lock = asyncio.Lock()

    async def _client(self) -> Any:
        if self._redis is None:
            async with self._lock:
                if self._redis is None:
                    self._redis = redis_client(self._url)
        return self._redis

    async def claim(self, job: RenderJob, token: str) -> str | None:
        redis = await self._client()
        failed = await redis.get(failed_key(token))
        if failed is not None:
            reason = failure_reason(failed, job.etag)
            if reason is not None:
                return "worker gave up: " + reason[:200]
            await redis.delete(failed_key(token))  # about a replaced original
        claimed = await redis.set(pending_key(token), b"1", nx=True, ex=self._settings.pending_ttl)
        return None if claimed else PENDING

    async def release(self, token: str) -> None:
        with contextlib.suppress(Exception):  # the lock store is down too: the key expires anyway
            await (await self._client()).delete(pending_key(token))

    async def close(self) -> None:
        if self._redis is not None:
            client, self._redis = self._redis, None
            await client.aclose()


class LocalClaims:
    """Claims held by this process only (no shared store: the one-process dev mode)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._local: dict[str, float] = {}  # token → expiry (monotonic)

    async def claim(self, job: RenderJob, token: str) -> str | None:
        now = time.monotonic()
        if self._local.get(token, 0.0) > now:
            return PENDING
        if len(self._local) > 10_000:  # forget expired claims now and then
            self._local = {t: until for t, until in self._local.items() if until > now}
        self._local[token] = now + self._settings.pending_ttl
        return None

    async def release(self, token: str) -> None:
        self._local.pop(token, None)

    async def close(self) -> None:
        return None


class CelerySender:
    """``send_task`` by name through a sending-only Celery app (the Redis broker)."""

    def __init__(self, settings: Settings, app: Any | None = None) -> None:
        self._settings = settings
        self._app = app

    async def send(self, job: RenderJob) -> str:
        return await asyncio.to_thread(self._send, job)

    def _send(self, job: RenderJob) -> str:
        app = self._app or celery_app(self._settings.broker_url)
        return str(app.send_task(RENDER_TASK, kwargs=job.to_kwargs(), queue=LIVE_QUEUE).id)

    async def close(self) -> None:
        return None


def make_claims(settings: Settings, redis: Any | None = None) -> Claims:
    """The claim store the settings name: Redis, else the DynamoDB job table, else this process."""
    url = settings.effective_lock_url
    if url or redis is not None:
        return RedisClaims(settings, url or "", redis)
    if settings.job_table:
        from edge.aws import TableClaims

        return TableClaims(settings)
    return LocalClaims(settings)


def make_sender(settings: Settings, app: Any | None = None) -> Sender:
    """The sender the broker needs: botocore's SendMessage for SQS, else Celery."""
    if settings.sqs and app is None:
        from edge.aws import SqsSender

        return SqsSender(settings)
    return CelerySender(settings, app)


class JobQueue:
    """Enqueues render jobs for one edge; its adapters are made on the first enqueue."""

    def __init__(self, settings: Settings, *, redis: Any | None = None, app: Any | None = None) -> None:
        self._settings = settings
        self._given = (redis, app)
        self._claims: Claims | None = None
        self._sender: Sender | None = None

    async def close(self) -> None:
        """Close the adapters' clients (connections go back to the OS)."""
        for adapter in (self._claims, self._sender):
            if adapter is not None:
                await adapter.close()
        self._claims = self._sender = None

    async def enqueue(self, job: RenderJob) -> Sent:
        """Send ``job`` unless one is pending or failed; returns the outcome and a reason."""
        token = job.token
        if token is None:
            raise QueueError("a render job without a token cannot be deduplicated")
        redis, app = self._given
        try:
            if self._claims is None:
                self._claims = make_claims(self._settings, redis)
            refused = await bound(self._claims.claim(job, token), "claim")
        except Exception as error:
            raise QueueError(f"lock store: {type(error).__name__}: {error}"[:300]) from error
        if refused == PENDING:
            return Sent("pending", PENDING)
        if refused is not None:
            return Sent("failed", refused)
        try:
            if self._sender is None:
                self._sender = make_sender(self._settings, app)
            task_id = await bound(self._sender.send(job), "send")
        except Exception as error:
            with contextlib.suppress(Exception):  # bounded: the deadline may be spent already
                await asyncio.wait_for(self._claims.release(token), RELEASE_TIMEOUT)
            raise QueueError(f"broker: {type(error).__name__}: {error}"[:300]) from error
        return Sent("queued", "job sent", task_id)
