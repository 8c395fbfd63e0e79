"""The messages between the edge, the command line and the worker, with every queue and task name.

Tasks are sent by name (``send_task``), so no sender imports the worker. Each
message is a frozen dataclass that travels as the task's keyword arguments
(JSON). A ``RenderJob`` carries its ``token``: the short name of the one
derivative it makes, computed by the edge; the worker uses it as given for
the pending, failure and attempt keys (docs/worker.md).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Self

from core.keys import request_key
from core.transform import Transform
from core.types import OutputFormat

#: Live misses from the edge.
LIVE_QUEUE = "derivatives"
#: Reprocessing, purges and S3 events: work nobody is waiting for.
BATCH_QUEUE = "batch"
QUEUES = (LIVE_QUEUE, BATCH_QUEUE)

RENDER_TASK = "tachyon.render"
REPROCESS_TASK = "tachyon.batch.reprocess"
BATCH_RENDER_TASK = "tachyon.batch.render"
PURGE_TASK = "tachyon.purge"
S3_EVENT_TASK = "tachyon.s3_event"


class Message:
    """A task's keyword arguments as a typed value (mixin of the dataclasses below)."""

    def to_kwargs(self) -> dict[str, Any]:
        """The task's keyword arguments (JSON-serialisable)."""
        return asdict(self)  # type: ignore[call-overload, no-any-return]

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> Self:
        """The message back from a task's keyword arguments; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{name: value for name, value in kwargs.items() if name in names})


@dataclass(frozen=True, slots=True)
class RenderJob(Message):
    """One derivative to render, sent by the edge on a miss (``RENDER_TASK``, ``LIVE_QUEUE``)."""

    bucket: str
    original_key: str
    query: str
    token: str | None = None  # ``job_token`` of the derivative; None: no bookkeeping
    accept: str | None = None  # the Accept value used for auto-format, if on
    etag: str | None = None  # the original's ETag when the edge enqueued (normalised)


@dataclass(frozen=True, slots=True)
class ReprocessJob(Message):
    """List a prefix and fan out one ``BatchRenderJob`` per original (``REPROCESS_TASK``)."""

    bucket: str
    prefix: str
    queries: list[str]
    run: str | None = None
    start_after: str | None = None


@dataclass(frozen=True, slots=True)
class BatchRenderJob(Message):
    """Render every argument set of one original from one download (``BATCH_RENDER_TASK``)."""

    bucket: str
    original_key: str
    queries: list[str]
    run: str | None = None


@dataclass(frozen=True, slots=True)
class PurgeJob(Message):
    """Delete every derivative of one original (``PURGE_TASK``)."""

    bucket: str
    original_key: str


def job_token(bucket: str, derivative_key: str) -> str:
    """A short stable name of one derivative job: the same for every edge and worker."""
    return hashlib.sha1(f"{bucket}\0{derivative_key}".encode(), usedforsecurity=False).hexdigest()


def render_job(
    bucket: str,
    original_key: str,
    query: str,
    transform: Transform,
    source: OutputFormat,
    *,
    accept: str | None,
    etag: str | None,
    prefix: str,
) -> RenderJob:
    """The job a miss on ``original_key?query`` sends, named by the derivative key it asks for."""
    key = request_key(original_key, transform, source, accept=accept, prefix=prefix)
    return RenderJob(bucket, original_key, query, job_token(bucket, key), accept, etag)


def pending_key(token: str) -> str:
    """Redis key held while a job is queued or running (set by the edge, released by the worker)."""
    return f"tachyon:pending:{token}"


def failed_key(token: str) -> str:
    """Redis key holding the reason a job gave up (the edge stops enqueueing it meanwhile)."""
    return f"tachyon:failed:{token}"


def attempts_key(token: str) -> str:
    """Redis key counting renders of a job that started and never came back (process killed)."""
    return f"tachyon:attempts:{token}"


def failure_record(etag: str | None, reason: str) -> str:
    """The value stored under ``failed_key``: why, and for which version of the original."""
    return json.dumps({"etag": etag, "reason": reason[:1000]})


def failure_reason(record: bytes | str, etag: str | None) -> str | None:
    """The reason a job gave up, if the record is about this version of the original.

    A record made for another ETag is stale: the original was replaced since,
    and the new one deserves a render. A record without an ETag applies to any.
    """
    try:
        value = json.loads(record)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        return record.decode("utf-8", "replace") if isinstance(record, bytes) else record
    recorded = value.get("etag")
    if recorded and etag and recorded != etag:
        return None
    return str(value.get("reason", ""))
