"""Batch progress: one run's counters and its failure reasons, in Redis or in the DynamoDB job table.

The reprocess tasks add to a run's counters as they go; ``tachyon-edge
reprocess --wait`` reads them. Two stores, the one of the job records
(``worker.ledger``): a Redis hash per run (``tachyon:batch:{run}``) and a hash
of failures, or, without Redis, an item per run in the job table
(``pk = "batch:{run}"``, counters kept with ``ADD``) and one item per kept
failure (``batch:{run}:failed:{n}``, numbered by the ``failed`` counter itself,
so concurrent tasks never overwrite one another). docs/worker.md.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from core.jobtable import KEY, TTL_ATTRIBUTE
from core.settings import Settings
from worker.s3 import aws_client, lock_client, transient_as_retryable

if TYPE_CHECKING:
    from worker.render import Result

#: How long a run's progress stays readable, seconds.
PROGRESS_TTL = 7 * 24 * 3600
#: At most this many failures are kept per run with their reasons (all are counted).
MAX_FAILURES_KEPT = 10_000
COUNTERS = ("originals", "expected", "rendered", "fresh", "failed")


@dataclass(frozen=True)
class Progress:
    """A run's counters as read from the store."""

    originals: int = 0
    expected: int = 0
    rendered: int = 0
    fresh: int = 0
    failed: int = 0
    listed: bool = False
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def done(self) -> int:
        """Derivatives finished one way or another."""
        return self.rendered + self.fresh + self.failed

    @property
    def finished(self) -> bool:
        """Listing is over and every derivative sent has an outcome."""
        return self.listed and self.done >= self.expected


def outcome_counts(results: Sequence[Result]) -> tuple[dict[str, int], list[Result]]:
    """Per-outcome counts of one original's results ("skipped" counts as failed), and the failures."""
    counts = {"rendered": 0, "fresh": 0, "failed": 0}
    for result in results:
        counts["failed" if result.outcome == "skipped" else result.outcome] += 1
    return counts, [r for r in results if r.outcome in ("failed", "skipped")]


class ProgressStore(Protocol):
    """Where the counters of batch runs live."""

    def start(self, run: str, *, bucket: str, prefix: str, queries: Sequence[str]) -> None:
        """Create the run's counters before its first task is sent."""

    def add_listed(self, run: str, originals: int, expected: int) -> None:
        """Count one listed page: its originals and the derivatives they are to get."""

    def mark_listed(self, run: str) -> None:
        """The listing has ended."""

    def record(self, run: str, original_key: str, results: Sequence[Result]) -> None:
        """Add one original's outcomes to its run."""

    def read(self, run: str, *, with_failures: bool = False) -> Progress | None:
        """The run's counters, or None for an unknown run."""


def progress_key(run: str) -> str:
    """Redis hash of one run's counters."""
    return f"tachyon:batch:{run}"


def failures_key(run: str) -> str:
    """Redis hash of one run's failures: "original?args" → reason."""
    return f"tachyon:batch:{run}:failed"


class RedisProgress:
    """A Redis hash per run, and a hash of its failures (one pipelined round trip per update)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    def start(self, run: str, *, bucket: str, prefix: str, queries: Sequence[str]) -> None:
        key = progress_key(run)
        self.redis.hset(
            key,
            mapping={"bucket": bucket, "prefix": prefix, "args": "\n".join(queries), "listed": 0}
            | dict.fromkeys(COUNTERS, 0),
        )
        self.redis.expire(key, PROGRESS_TTL)

    def add_listed(self, run: str, originals: int, expected: int) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(progress_key(run), "originals", originals)
        pipe.hincrby(progress_key(run), "expected", expected)
        pipe.execute()

    def mark_listed(self, run: str) -> None:
        self.redis.hset(progress_key(run), "listed", 1)

    def record(self, run: str, original_key: str, results: Sequence[Result]) -> None:
        counts, failed = outcome_counts(results)
        room = MAX_FAILURES_KEPT - int(self.redis.hlen(failures_key(run))) if failed else 0
        pipe = self.redis.pipeline(transaction=False)
        for result in failed[: max(0, room)]:  # every failure is counted; the first ones keep their reason
            pipe.hset(failures_key(run), f"{original_key}?{result.query}", result.reason or "failed")
        for name, count in counts.items():
            if count:
                pipe.hincrby(progress_key(run), name, count)
        if counts["failed"]:
            pipe.expire(failures_key(run), PROGRESS_TTL)
        pipe.execute()

    def read(self, run: str, *, with_failures: bool = False) -> Progress | None:
        raw = self.redis.hgetall(progress_key(run))
        if not raw:
            return None
        values = {k.decode(): v.decode() for k, v in raw.items()}
        failures: dict[str, str] = {}
        if with_failures:
            failures = {k.decode(): v.decode() for k, v in self.redis.hgetall(failures_key(run)).items()}
        counters = {name: int(values.get(name, 0)) for name in COUNTERS}
        return Progress(**counters, listed=values.get("listed") == "1", failures=failures)


def _key(value: str) -> dict[str, Any]:
    return {KEY: {"S": value}}


class TableProgress:
    """An item per run in the DynamoDB job table, and one per kept failure."""

    def __init__(self, settings: Settings, table: str) -> None:
        self._settings, self._table = settings, table

    def _ddb(self) -> Any:
        return aws_client(self._settings, "dynamodb")

    def _expires(self) -> dict[str, str]:
        return {"N": str(int(time.time()) + PROGRESS_TTL)}

    def _add(self, run: str, counts: dict[str, int], *, returning: bool = False) -> dict[str, Any]:
        names = {f"#{name}": name for name in counts}
        values: dict[str, Any] = {f":{name}": {"N": str(count)} for name, count in counts.items()}
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": _key(f"batch:{run}"),
            "UpdateExpression": "ADD "
            + ", ".join(f"#{n} :{n}" for n in counts)
            + f" SET {TTL_ATTRIBUTE} = :e",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values | {":e": self._expires()},
        }
        if returning:
            request["ReturnValues"] = "UPDATED_NEW"
        with transient_as_retryable():
            answer: dict[str, Any] = self._ddb().update_item(**request)
        return answer

    def start(self, run: str, *, bucket: str, prefix: str, queries: Sequence[str]) -> None:
        item = _key(f"batch:{run}") | {name: {"N": "0"} for name in (*COUNTERS, "listed")}
        item |= {"bucket": {"S": bucket}, "prefix": {"S": prefix}, "args": {"S": "\n".join(queries)}}
        with transient_as_retryable():
            self._ddb().put_item(TableName=self._table, Item=item | {TTL_ATTRIBUTE: self._expires()})

    def add_listed(self, run: str, originals: int, expected: int) -> None:
        self._add(run, {"originals": originals, "expected": expected})

    def mark_listed(self, run: str) -> None:
        self._add(run, {"listed": 1})

    def record(self, run: str, original_key: str, results: Sequence[Result]) -> None:
        counts, failed = outcome_counts(results)
        answer = self._add(
            run, {k: v for k, v in counts.items() if v} or {"failed": 0}, returning=bool(failed)
        )
        if not failed:
            return
        last = int(answer["Attributes"]["failed"]["N"])
        first = last - len(failed) + 1
        puts = [
            {"PutRequest": {"Item": _key(f"batch:{run}:failed:{number}") | {
                "name": {"S": f"{original_key}?{result.query}"},
                "reason": {"S": (result.reason or "failed")[:1000]},
                TTL_ATTRIBUTE: self._expires(),
            }}}
            for number, result in enumerate(failed, start=first)
            if number <= MAX_FAILURES_KEPT
        ]  # fmt: skip
        for start in range(0, len(puts), 25):  # BatchWriteItem takes 25 at a time
            pending: dict[str, Any] = {self._table: puts[start : start + 25]}
            while pending:
                with transient_as_retryable():
                    pending = self._ddb().batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    def read(self, run: str, *, with_failures: bool = False) -> Progress | None:
        with transient_as_retryable():
            item = self._ddb().get_item(TableName=self._table, Key=_key(f"batch:{run}"), ConsistentRead=True)
        found = item.get("Item")
        if not found:
            return None
        counters = {name: int(found.get(name, {}).get("N", 0)) for name in COUNTERS}
        failures = self._failures(run, min(counters["failed"], MAX_FAILURES_KEPT)) if with_failures else {}
        return Progress(**counters, listed=int(found.get("listed", {}).get("N", 0)) > 0, failures=failures)

    def _failures(self, run: str, count: int) -> dict[str, str]:
        out: dict[str, str] = {}
        for start in range(1, count + 1, 100):  # BatchGetItem takes 100 keys at a time
            keys = [_key(f"batch:{run}:failed:{n}") for n in range(start, min(count, start + 99) + 1)]
            pending: dict[str, Any] = {self._table: {"Keys": keys}}
            while pending:
                with transient_as_retryable():
                    answer = self._ddb().batch_get_item(RequestItems=pending)
                for row in answer.get("Responses", {}).get(self._table, []):
                    out[row["name"]["S"]] = row["reason"]["S"]
                pending = answer.get("UnprocessedKeys") or {}
        return out


def progress_store(settings: Settings) -> ProgressStore | None:
    """The store of batch progress: Redis when configured, else the job table; None without either."""
    redis = lock_client(settings)
    if redis is not None:
        return RedisProgress(redis)
    if settings.job_table:
        return TableProgress(settings, settings.job_table)
    return None
