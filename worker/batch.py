"""Batch reprocessing: list a prefix, render a list of argument sets for every original.

``tachyon.batch.reprocess`` lists one page at a time and sends one
``tachyon.batch.render`` per original (handing the rest of a long listing to a
new task); ``tachyon.batch.render`` downloads once and renders what is not
fresh. Progress is counted per run in Redis or the job table (``worker.progress``).
docs/worker.md has the shape of a run and what the counters mean after a redelivery.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from kombu.entity import Queue
from kombu.exceptions import OperationalError

from core.errors import error_text
from core.formats import format_of_path
from core.jobs import BATCH_QUEUE, BATCH_RENDER_TASK, REPROCESS_TASK, BatchRenderJob, ReprocessJob
from worker.app import app, current_settings
from worker.progress import ProgressStore, progress_store
from worker.render import Result, render_original
from worker.s3 import RETRY_POLICY, TransientError, list_pages, s3_client

log = logging.getLogger("tachyon.worker")

#: Listing pages (≤ 1,000 keys each) one reprocess task sends before handing over.
PAGES_PER_TASK = 50


def image_keys(keys: Iterable[str]) -> list[str]:
    """The keys that name an image by their extension (what the edge would transform)."""
    return [key for key in keys if format_of_path(key) is not None]


def fan_out(
    pages: Iterable[Sequence[str]],
    bucket: str,
    queries: Sequence[str],
    run: str | None,
    *,
    progress: ProgressStore | None = None,
) -> tuple[int, str | None]:
    """Send one batch render per image key, page by page; returns (sent, last key seen).

    One producer (one broker connection) for the whole call; the run's
    ``originals`` and ``expected`` counters grow after each page.
    """
    sent = 0
    last: str | None = None
    queries = list(queries)
    declared = app.amqp.queues[BATCH_QUEUE]
    # Declared once here, not once per message (kombu copies the entities on every declare).
    target = Queue(declared.name, declared.exchange, routing_key=declared.routing_key, no_declare=True)  # type: ignore[no-untyped-call]
    with app.producer_or_acquire() as producer:
        producer.maybe_declare(declared)
        for page in pages:
            if not page:
                continue
            last = page[-1]
            originals = image_keys(page)
            # kombu's publish batch: one pipelined LPUSH per page on Redis, plain publishes elsewhere.
            with producer.batch(max_size=len(originals) or 1):
                for key in originals:
                    app.send_task(
                        BATCH_RENDER_TASK,
                        kwargs=BatchRenderJob(bucket, key, queries, run).to_kwargs(),
                        queue=target,
                        producer=producer,
                        argsrepr="()",
                        kwargsrepr=key[:200],  # shown by `celery inspect`; skips Celery's saferepr
                        retry=False,
                    )
            sent += len(originals)
            if progress is not None and run and originals:
                progress.add_listed(run, len(originals), len(originals) * len(queries))
    return sent, last


def record(run: str | None, original_key: str, results: Sequence[Result]) -> None:
    """Add one original's outcomes to its run, in the store the settings name."""
    progress = progress_store(current_settings()) if run else None
    if progress is not None and run:
        progress.record(run, original_key, results)


class _BatchTask(Task):  # type: ignore[misc]
    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """A batch render that gave up still counts, as failures with the reason."""
        if self.name != BATCH_RENDER_TASK:
            log.error("batch listing failed: %r", exc)
            return
        job = BatchRenderJob.from_kwargs(kwargs)
        reason = f"{type(exc).__name__}: {error_text(exc)}"
        results = [Result(q, "failed", reason=reason) for q in job.queries]
        record(job.run, job.original_key, results)


@app.task(  # type: ignore[untyped-decorator]
    name=REPROCESS_TASK,
    base=_BatchTask,
    **{**RETRY_POLICY, "autoretry_for": (TransientError, OperationalError)},
)
def reprocess(**kwargs: Any) -> int:
    """List the prefix from ``start_after`` on and fan out; hands over after ``PAGES_PER_TASK`` pages."""
    job = ReprocessJob.from_kwargs(kwargs)
    bucket, prefix, queries, run, start_after = job.bucket, job.prefix, job.queries, job.run, job.start_after
    settings = current_settings()
    progress = progress_store(settings)
    pages = list_pages(
        s3_client(settings), bucket, prefix, start_after=start_after, skip_prefix=settings.derivative_prefix
    )
    taken: list[list[str]] = []

    def limited() -> Iterable[list[str]]:
        for page in pages:
            taken.append([])
            yield page
            if len(taken) >= PAGES_PER_TASK:
                return

    sent, last = fan_out(limited(), bucket, queries, run, progress=progress)
    if len(taken) >= PAGES_PER_TASK and last is not None:
        app.send_task(REPROCESS_TASK, kwargs=replace(job, start_after=last).to_kwargs(), queue=BATCH_QUEUE)
    elif progress is not None and run:
        progress.mark_listed(run)
    log.info("batch %s: sent %d originals after %r", run, sent, start_after)
    return sent


@app.task(name=BATCH_RENDER_TASK, base=_BatchTask, **RETRY_POLICY)  # type: ignore[untyped-decorator]
def render_batch(**kwargs: Any) -> int:
    """Render every argument set of one original from one download; returns how many were rendered."""
    job = BatchRenderJob.from_kwargs(kwargs)
    bucket, original_key, queries, run = job.bucket, job.original_key, job.queries, job.run
    settings = current_settings()
    try:
        results = render_original(settings, bucket, original_key, queries)
    except SoftTimeLimitExceeded:
        reason = f"render took longer than {settings.task_soft_time_limit} s"
        results = [Result(q, "failed", reason=reason) for q in queries]
    for result in results:
        if result.outcome == "failed":
            log.warning("batch %s: %s?%s failed: %s", run, original_key, result.query, result.reason)
    record(run, original_key, results)
    return sum(r.outcome == "rendered" for r in results)
