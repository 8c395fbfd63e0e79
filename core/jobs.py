"""The messages between the edge, the command line and the worker, with every queue and task name.

Tasks are sent by name (``send_task``), so no sender imports the worker. Each
message is a frozen dataclass that travels as the task's keyword arguments
(JSON). A ``RenderJob`` carries its ``token``: the short name of the one
derivative it makes, computed by the edge; the worker uses it as given for
the pending, failure and attempt keys (docs/worker.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
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

#: On SQS, each queue is the SQS queue ``queue_prefix + name`` (``tachyon-derivatives``)
#: with a dead-letter queue named ``… + DEAD_LETTER_SUFFIX``; S3 sends its event
#: notifications to ``queue_prefix + EVENTS_QUEUE``, read by the purge function.
EVENTS_QUEUE = "events"
DEAD_LETTER_SUFFIX = "-dlq"

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


def rendering_key(token: str) -> str:
    """Redis key held while one edge invocation renders a small derivative (the others wait for it)."""
    return f"tachyon:rendering:{token}"


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


def sqs_queue_name(queue: str, prefix: str) -> str:
    """The SQS queue that carries ``queue`` (``derivatives`` → ``tachyon-derivatives``)."""
    return prefix + queue


def celery_message(task: str, kwargs: dict[str, Any], *, queue: str, task_id: str | None = None) -> str:
    """An SQS message body that a Celery worker reads as the task ``task(**kwargs)``.

    This is what kombu's SQS transport writes for ``send_task``: Celery's
    message protocol 2 in kombu's envelope, base64 inside and out. Building it
    here lets the edge send with one botocore ``SendMessage`` instead of
    importing Celery (docs/edge.md); a test checks it against Celery's own.
    """
    task_id = task_id or str(uuid.uuid4())
    body = json.dumps([[], kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}])
    headers: dict[str, Any] = {
        "lang": "py", "task": task, "id": task_id, "shadow": None, "eta": None, "expires": None,
        "group": None, "group_index": None, "retries": 0, "timelimit": [None, None],
        "root_id": task_id, "parent_id": None, "argsrepr": "()", "kwargsrepr": repr(kwargs)[:1000],
        "origin": "tachyon-edge", "ignore_result": True, "replaced_task_nesting": 0,
        "stamped_headers": None, "stamps": {},
    }  # fmt: skip
    envelope = {
        "body": base64.b64encode(body.encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": headers,
        "properties": {
            "correlation_id": task_id, "reply_to": "", "delivery_mode": 2, "priority": 0,
            "body_encoding": "base64", "delivery_tag": str(uuid.uuid4()),
            "delivery_info": {"exchange": "", "routing_key": queue},
        },
    }  # fmt: skip
    return base64.b64encode(json.dumps(envelope).encode()).decode()
