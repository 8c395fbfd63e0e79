"""A render job's records on the worker's side: release the claim, record a give-up, count starts.

The edge claims a job before sending it (``edge.queue``); the worker keeps
the same records in the same store: Redis keys (``core.jobs``) when Redis is
configured, else the DynamoDB job table item (``core.jobtable``). Without
either there is nothing to keep (one-process dev mode). ``ledger(settings)``
picks; ``worker.tasks`` uses it.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from core import jobtable
from core.jobs import attempts_key, failed_key, failure_record, pending_key
from core.s3errors import error_code
from core.settings import Settings
from worker.s3 import aws_client, lock_client, transient_as_retryable


class Ledger(Protocol):
    """The records of one store."""

    def finish(self, token: str, etag: str | None, reason: str | None) -> None:
        """The job ended: release it; with a reason, record the give-up for ``failure_ttl``."""

    def release(self, token: str) -> None:
        """The process running the job was killed: release the claim, keep the count of starts."""

    def count_start(self, token: str) -> int:
        """Count this start of the job; returns how many starts never finished, this one included."""

    def forget_start(self, token: str) -> None:
        """This start ended in Python (not a killed process): drop the count."""


class RedisLedger:
    """The Redis keys ``pending_key``, ``failed_key`` and ``attempts_key``."""

    def __init__(self, settings: Settings, redis: Any) -> None:
        self._settings, self._redis = settings, redis

    def finish(self, token: str, etag: str | None, reason: str | None) -> None:
        pipe = self._redis.pipeline(transaction=False)
        if reason is not None:
            pipe.set(failed_key(token), failure_record(etag, reason), ex=self._settings.failure_ttl)
        pipe.delete(pending_key(token), attempts_key(token))
        pipe.execute()

    def release(self, token: str) -> None:
        self._redis.delete(pending_key(token))

    def count_start(self, token: str) -> int:
        pipe = self._redis.pipeline(transaction=False)
        pipe.incr(attempts_key(token))
        pipe.expire(attempts_key(token), self._settings.failure_ttl)
        started, _ = pipe.execute()
        return int(started)

    def forget_start(self, token: str) -> None:
        self._redis.delete(attempts_key(token))


class TableLedger:
    """The job's item in the DynamoDB job table (one request per call, two on a repeated start)."""

    def __init__(self, settings: Settings, table: str) -> None:
        self._settings, self._table = settings, table

    def _ddb(self) -> Any:
        return aws_client(self._settings, "dynamodb")

    def finish(self, token: str, etag: str | None, reason: str | None) -> None:
        with transient_as_retryable():
            if reason is None:
                self._ddb().delete_item(**jobtable.done(self._table, token))
            else:
                request = jobtable.failed(self._table, token, etag, reason, now=time.time(),
                                          failure_ttl=self._settings.failure_ttl)  # fmt: skip
                self._ddb().update_item(**request)

    def release(self, token: str) -> None:
        with transient_as_retryable():
            self._ddb().update_item(**jobtable.release(self._table, token))

    def count_start(self, token: str) -> int:
        now, ttl = time.time(), self._settings.failure_ttl
        with transient_as_retryable():
            try:
                self._ddb().update_item(**jobtable.first_start(self._table, token, now=now, failure_ttl=ttl))
            except Exception as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
            else:
                return 1
            answer = self._ddb().update_item(
                **jobtable.next_start(self._table, token, now=now, failure_ttl=ttl)
            )
        return int(answer["Attributes"]["start_count"]["N"])

    def forget_start(self, token: str) -> None:
        with transient_as_retryable():
            self._ddb().update_item(**jobtable.forget_start(self._table, token))


def ledger(settings: Settings) -> Ledger | None:
    """The store the edge claims jobs in, as the settings name it; None without one."""
    redis = lock_client(settings)
    if redis is not None:
        return RedisLedger(settings, redis)
    if settings.job_table:
        return TableLedger(settings, settings.job_table)
    return None
