"""Batch reprocessing: list a prefix, render a list of argument sets for every original.

``tachyon.batch.reprocess`` lists one page at a time and sends one
``tachyon.batch.render`` per original (handing the rest of a long listing to a
new task); ``tachyon.batch.render`` downloads once and renders what is not
fresh. Progress is counted in a Redis hash per run. docs/worker.md has the shape
of a run and what the counters mean after a redelivery.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from kombu.entity import Queue
from kombu.exceptions import OperationalError

from core.errors import error_text
from core.formats import format_of_path
from core.jobs import BATCH_QUEUE, BATCH_RENDER_TASK, REPROCESS_TASK, BatchRenderJob, ReprocessJob
from worker.app import app, current_settings
from worker.render import Result, render_original
from worker.s3 import RETRY_POLICY, TransientError, list_pages, lock_client, s3_client

log = logging.getLogger("tachyon.worker")

#: Listing pages (≤ 1,000 keys each) one reprocess task sends before handing over.
PAGES_PER_TASK = 50
#: How long a run's progress stays readable in Redis, seconds.
PROGRESS_TTL = 7 * 24 * 3600
#: At most this many failures are kept per run with their reasons (all are counted).
MAX_FAILURES_KEPT = 10_000


def progress_key(run: str) -> str:
    """Redis hash of one run's counters."""
    return f"tachyon:batch:{run}"


def failures_key(run: str) -> str:
    """Redis hash of one run's failures: "original?args" → reason."""
    return f"tachyon:batch:{run}:failed"


@dataclass(frozen=True)
class Progress:
    """A run's counters as read from Redis."""

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


def start_run(redis: Any, run: str, *, bucket: str, prefix: str, queries: Sequence[str]) -> None:
    """Create the run's counters before its first task is sent."""
    key = progress_key(run)
    redis.hset(
        key,
        mapping={
            "bucket": bucket, "prefix": prefix, "args": "\n".join(queries), "originals": 0,
            "expected": 0, "rendered": 0, "fresh": 0, "failed": 0, "listed": 0,
        },
    )  # fmt: skip
    redis.expire(key, PROGRESS_TTL)


def read_progress(redis: Any, run: str, *, with_failures: bool = False) -> Progress | None:
    """The run's counters, or None for an unknown run."""
    raw = redis.hgetall(progress_key(run))
    if not raw:
        return None
    values = {k.decode(): v.decode() for k, v in raw.items()}
    failures: dict[str, str] = {}
    if with_failures:
        failures = {k.decode(): v.decode() for k, v in redis.hgetall(failures_key(run)).items()}
    return Progress(
        originals=int(values.get("originals", 0)),
        expected=int(values.get("expected", 0)),
        rendered=int(values.get("rendered", 0)),
        fresh=int(values.get("fresh", 0)),
        failed=int(values.get("failed", 0)),
        listed=values.get("listed") == "1",
        failures=failures,
    )


def record(redis: Any, run: str | None, original_key: str, results: Sequence[Result]) -> None:
    """Add one original's outcomes to its run (one round trip)."""
    if redis is None or not run:
        return
    counts = {"rendered": 0, "fresh": 0, "failed": 0}
    failed = [r for r in results if r.outcome in ("failed", "skipped")]
    room = MAX_FAILURES_KEPT - int(redis.hlen(failures_key(run))) if failed else 0
    pipe = redis.pipeline(transaction=False)
    for result in results:
        outcome = "failed" if result.outcome == "skipped" else result.outcome
        counts[outcome] += 1
    for result in failed[: max(0, room)]:  # every failure is counted; the first ones keep their reason
        pipe.hset(failures_key(run), f"{original_key}?{result.query}", result.reason or "failed")
    for name, count in counts.items():
        if count:
            pipe.hincrby(progress_key(run), name, count)
    if counts["failed"]:
        pipe.expire(failures_key(run), PROGRESS_TTL)
    pipe.execute()


def image_keys(keys: Iterable[str]) -> list[str]:
    """The keys that name an image by their extension (what the edge would transform)."""
    return [key for key in keys if format_of_path(key) is not None]


def fan_out(
    pages: Iterable[Sequence[str]],
    bucket: str,
    queries: Sequence[str],
    run: str | None,
    *,
    redis: Any = None,
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
            if redis is not None and run and originals:
                pipe = redis.pipeline(transaction=False)
                pipe.hincrby(progress_key(run), "originals", len(originals))
                pipe.hincrby(progress_key(run), "expected", len(originals) * len(queries))
                pipe.execute()
    return sent, last


class _BatchTask(Task):  # type: ignore[misc]
    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """A batch render that gave up still counts, as failures with the reason."""
        if self.name != BATCH_RENDER_TASK:
            log.error("batch listing failed: %r", exc)
            return
        job = BatchRenderJob.from_kwargs(kwargs)
        reason = f"{type(exc).__name__}: {error_text(exc)}"
        results = [Result(q, "failed", reason=reason) for q in job.queries]
        record(lock_client(current_settings()), job.run, job.original_key, results)


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
    redis = lock_client(settings)
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

    sent, last = fan_out(limited(), bucket, queries, run, redis=redis)
    if len(taken) >= PAGES_PER_TASK and last is not None:
        app.send_task(REPROCESS_TASK, kwargs=replace(job, start_after=last).to_kwargs(), queue=BATCH_QUEUE)
    elif redis is not None and run:
        redis.hset(progress_key(run), "listed", 1)
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
    record(lock_client(settings), run, original_key, results)
    return sum(r.outcome == "rendered" for r in results)
