"""Enqueue a render job once per derivative: a pending lock, then ``send_task`` by name.

The edge never imports the worker: it sends ``RENDER_TASK`` on ``LIVE_QUEUE``
with a sending-only Celery app made on the first enqueue (a hit never pays for
Celery's import). The Redis key ``pending_key(token)`` (NX, ``pending_ttl``)
lets one miss per derivative send; a recorded failure stops sending. Without a
lock store (``memory://`` in the one-process dev mode) the pending set lives in
this process. docs/edge.md and docs/worker.md say more.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from core.clients import redis_options
from core.jobs import LIVE_QUEUE, RENDER_TASK, RenderJob, failed_key, failure_reason, pending_key

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


class QueueError(Exception):
    """The lock store or the broker failed; the viewer gets the original meanwhile."""


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


class JobQueue:
    """Enqueues render jobs for one edge; its Redis client is made lazily in the loop."""

    def __init__(self, settings: Settings, *, redis: Any | None = None, app: Any | None = None) -> None:
        self._settings = settings
        self._redis = redis
        self._app = app
        self._local: dict[str, float] = {}  # token → expiry (monotonic), when there is no Redis
        self._lock = asyncio.Lock()

    async def _lock_client(self) -> Any | None:
        if self._redis is None and self._settings.effective_lock_url:
            async with self._lock:
                if self._redis is None:
                    from redis.asyncio import Redis

                    self._redis = Redis.from_url(self._settings.effective_lock_url, **redis_options("edge"))
        return self._redis

    async def close(self) -> None:
        """Close the Redis client (connections go back to the OS)."""
        if self._redis is not None:
            client, self._redis = self._redis, None
            await client.aclose()

    async def enqueue(self, job: RenderJob) -> Sent:
        """Send ``job`` unless one is pending or failed; returns the outcome and a reason."""
        token = job.token
        if token is None:
            raise QueueError("a render job without a token cannot be deduplicated")
        try:
            redis = await self._lock_client()
            if redis is None:
                if not self._claim_locally(token):
                    return Sent("pending", "a job for this derivative is pending")
            else:
                failed = await redis.get(failed_key(token))
                if failed is not None:
                    reason = failure_reason(failed, job.etag)
                    if reason is not None:
                        return Sent("failed", "worker gave up: " + reason[:200])
                    await redis.delete(failed_key(token))  # about a replaced original
                claimed = await redis.set(pending_key(token), b"1", nx=True, ex=self._settings.pending_ttl)
                if not claimed:
                    return Sent("pending", "a job for this derivative is pending")
        except Exception as error:
            raise QueueError(f"lock store: {type(error).__name__}: {error}"[:300]) from error
        try:
            task_id = await asyncio.to_thread(self._send, job)
        except Exception as error:
            await self._release(redis, token)
            raise QueueError(f"broker: {type(error).__name__}: {error}"[:300]) from error
        return Sent("queued", "job sent", task_id)

    def _send(self, job: RenderJob) -> str:
        app = self._app or celery_app(self._settings.broker_url)
        return str(app.send_task(RENDER_TASK, kwargs=job.to_kwargs(), queue=LIVE_QUEUE).id)

    def _claim_locally(self, token: str) -> bool:
        now = time.monotonic()
        if self._local.get(token, 0.0) > now:
            return False
        if len(self._local) > 10_000:  # forget expired claims now and then
            self._local = {t: until for t, until in self._local.items() if until > now}
        self._local[token] = now + self._settings.pending_ttl
        return True

    async def _release(self, redis: Any | None, token: str) -> None:
        """Undo a claim whose message was never sent, so the next miss tries again."""
        if redis is None:
            self._local.pop(token, None)
            return
        with contextlib.suppress(Exception):  # the lock store is down too: the key expires anyway
            await redis.delete(pending_key(token))
