"""The live render task, sent by the edge by name on a derivative miss.

The edge claims the job (the Redis key ``pending_key(token)``, or the job's
item in the DynamoDB job table: ``worker.ledger``) and sends ``RENDER_TASK``
with ``RenderJob`` keyword arguments, token included, on the ``derivatives``
queue. This task makes the derivative unless a fresh one exists, then releases
the claim so a later miss may enqueue again.

- S3 throttling, timeouts, 5xx: retried with exponential backoff and jitter
  (``autoretry_for``), at most ``MAX_RETRIES`` times; then the pending key is
  released and the task fails (the edge will enqueue again on a later miss).
- A bad original (missing, corrupt, refused by a guard, too slow to render):
  not retried. The reason is recorded (``failed_key(token)``, or the job's
  item) for ``failure_ttl`` seconds — the edge keeps serving the original and does not
  enqueue that derivative meanwhile — and the task ends normally.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded, WorkerLostError

from core.errors import error_text
from core.jobs import RENDER_TASK, RenderJob
from core.sizesets import expand
from worker.app import app, current_settings
from worker.ledger import Ledger, ledger
from worker.render import Result, render_original
from worker.s3 import RETRY_POLICY, TransientError, is_transient

log = logging.getLogger("tachyon.worker")

#: Starts of one job that may die without finishing before it is recorded as failed.
MAX_KILLED = 3


def _ledger_of(job: RenderJob) -> tuple[Ledger, str] | None:
    """The job's records and its token, or None when either is missing (no bookkeeping)."""
    found = ledger(current_settings())
    return None if job.token is None or found is None else (found, job.token)


def finish(job: RenderJob, reason: str | None) -> None:
    """Release the pending claim; with a reason, record the failure (same round trip)."""
    if (found := _ledger_of(job)) is not None:
        records, token = found
        records.finish(token, job.etag, reason)


def forget_start(job: RenderJob) -> None:
    """Drop the count of killed starts: this start ended in Python (best effort: the store may be down)."""
    _best_effort(job, lambda records, token: records.forget_start(token))


def soft_limit_reason(settings_limit: int) -> str:
    """The documented failure reason of a render that passed the soft time limit."""
    return f"render took longer than {settings_limit} s"


def killed_too_often(job: RenderJob) -> bool:
    """Count this start; True once earlier starts of the job were killed ``MAX_KILLED`` times.

    A render whose process dies (out of memory, the hard time limit) never
    reaches ``finish``: with late acknowledgement and ``reject_on_worker_lost``
    the message comes back, or the edge enqueues it again after ``pending_ttl``.
    Without this count one poisonous original would be rendered forever.
    """
    if (found := _ledger_of(job)) is None:
        return False
    records, token = found
    return records.count_start(token) > MAX_KILLED


class RenderTask(Task):  # type: ignore[misc]
    """Releases the pending key whatever way the task ends."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        job = RenderJob.from_kwargs(kwargs)
        reason: str | None
        if isinstance(exc, TimeLimitExceeded | WorkerLostError):
            # The process was killed: not a give-up yet; the start stays counted
            # (``killed_too_often``), and the start after 3 killed ones records the give-up.
            # After a hard time limit Celery acknowledges the message: the claim is released
            # so the next miss queues it again. A lost worker's message is requeued: kept.
            log.error("render %s?%s: process killed (%r)", job.original_key, job.query, exc)
            if isinstance(exc, TimeLimitExceeded):
                _best_effort(job, lambda records, token: records.release(token))
            return
        if isinstance(exc, SoftTimeLimitExceeded):
            reason = soft_limit_reason(current_settings().task_soft_time_limit)
        elif isinstance(exc, TransientError) or is_transient(exc):
            log.warning("render %s?%s gave up after retries: %s", job.original_key, job.query, exc)
            reason = None  # S3 or the broker was down: a later miss may try again
        else:
            log.error("render %s?%s failed: %r", job.original_key, job.query, exc)
            reason = f"render error: {type(exc).__name__}: {error_text(exc)}"
        _best_effort(job, lambda records, token: records.finish(token, job.etag, reason))


def _best_effort(job: RenderJob, change: Callable[[Ledger, str], None]) -> None:
    """Change the job's records, unless the store is down too (the pending key then expires by itself)."""
    try:
        if (found := _ledger_of(job)) is not None:
            change(*found)
    except Exception as error:
        log.warning("could not update the records of %s?%s: %s", job.original_key, job.query,
                    error_text(error))  # fmt: skip


@app.task(  # type: ignore[untyped-decorator]
    name=RENDER_TASK,
    base=RenderTask,
    bind=True,
    **RETRY_POLICY,
)
def render(self: Task, **kwargs: Any) -> str:
    """Make one derivative the edge asked for; returns the outcome."""
    job = RenderJob.from_kwargs(kwargs)
    settings = current_settings()
    if killed_too_often(job):
        reason = f"the render was killed {MAX_KILLED} times (out of memory, or past the hard time limit)"
        log.error("not rendering %s?%s: %s", job.original_key, job.query, reason)
        finish(job, reason)
        return "failed"
    try:
        queries = expand(job.query, settings.size_set, settings.limits())  # + the size set's other members
        result = render_original(settings, job.bucket, job.original_key, queries, accept=job.accept)[0]
    except SoftTimeLimitExceeded:
        result = Result(job.query, "failed", reason=soft_limit_reason(settings.task_soft_time_limit))
    except BaseException:
        forget_start(job)  # it ended in Python (a retry, an error): not a killed process
        raise
    if result.outcome == "failed":
        log.warning("not rendering %s?%s: %s", job.original_key, job.query, result.reason)
    else:
        log.info("%s %s?%s → %s", result.outcome, job.original_key, job.query, result.key or "-")
    finish(job, result.reason if result.outcome == "failed" else None)
    return result.outcome
