"""Worker-side commands of ``tachyon-edge``: reprocess, purge, purge-events, queue-depth, worker-health.

Each reads the same ``Settings`` as the worker (``TACHYON_*`` environment,
config file); the flags override single fields for one call.
"""

from __future__ import annotations

import json
import socket
import sys
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import click

from cli.services import reaching, safe_url
from core.args import parse_query
from core.changes import cdn_path
from core.errors import InvalidArgument
from core.jobs import BATCH_QUEUE, PURGE_TASK, QUEUES, REPROCESS_TASK, PurgeJob, ReprocessJob
from core.settings import Settings

if TYPE_CHECKING:
    from worker.progress import ProgressStore

#: kombu's Redis transport keeps messages with a priority in lists named queue + sep + priority.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)


def _connection_options(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The flags that override where things are (only those a command uses)."""
    flags = {
        "bucket": click.option("--bucket", help="S3 bucket of originals [TACHYON_BUCKET]"),
        "s3_endpoint": click.option("--s3-endpoint", help="S3 endpoint URL [TACHYON_S3_ENDPOINT]"),
        "broker_url": click.option("--broker", "broker_url", help="Celery broker URL [TACHYON_BROKER_URL]"),
        "lock_url": click.option("--lock-url", help="Redis for job keys and progress [TACHYON_LOCK_URL]"),
    }

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for name in reversed(names):
            command = flags[name](command)
        return command

    return decorate


def _settings(flags: dict[str, Any]) -> Settings:
    """Settings from the environment and config file, with the given flags on top."""
    given = {name: value for name, value in flags.items() if value is not None}
    return Settings(**given)


def _normalise_query(raw: str) -> str:
    return raw.strip().lstrip("?")


@click.command("reprocess")
@click.option("--prefix", default="", show_default=True, help="key prefix of the originals to reprocess")
@click.option(
    "--args",
    "queries",
    multiple=True,
    required=True,
    help="one argument set as in a URL, e.g. 'w=300' or 'resize=150,150'; repeat for several",
)
@click.option("--wait", is_flag=True, help="follow the run with a progress bar and print a summary")
@click.option(
    "--timeout", type=float, default=None, help="with --wait: give up waiting after this many seconds"
)
@_connection_options("bucket", "s3_endpoint", "broker_url", "lock_url")
def reprocess(prefix: str, queries: tuple[str, ...], wait: bool, timeout: float | None, **flags: Any) -> None:
    """Render every argument set for every original under a prefix (queue: batch).

    Already fresh derivatives are not rendered again. Exit status with --wait:
    0 when every derivative is rendered or fresh, 1 when some failed.
    """
    settings = _settings(flags)
    if not settings.bucket:
        raise click.UsageError("no bucket: pass --bucket or set TACHYON_BUCKET")
    normalised = [_normalise_query(q) for q in queries]
    for query in normalised:
        try:
            transform = parse_query(query, settings.limits())
        except InvalidArgument as error:
            raise click.BadParameter(error.reason, param_hint=f"--args '{query}'") from None
        if transform is None:
            raise click.BadParameter("no transform argument in it", param_hint=f"--args '{query}'")

    from worker.app import configure
    from worker.progress import progress_store

    celery = configure(settings)
    progress = progress_store(settings)
    if wait and progress is None:
        raise click.UsageError(
            "--wait reads progress from Redis or the DynamoDB job table: "
            "set TACHYON_LOCK_URL (or a Redis broker) or TACHYON_JOB_TABLE"
        )
    run = uuid.uuid4().hex[:12]
    if progress is not None:
        with reaching(*_progress_service(settings)):
            progress.start(run, bucket=settings.bucket, prefix=prefix, queries=normalised)
    with reaching("broker", settings.broker_url):
        celery.send_task(
            REPROCESS_TASK,
            kwargs=ReprocessJob(settings.bucket, prefix, normalised, run).to_kwargs(),
            queue=BATCH_QUEUE,
        )
    click.echo(
        f"batch run {run}: s3://{settings.bucket}/{prefix}* × {len(normalised)} argument set(s) queued on "
        f"'{BATCH_QUEUE}'"
    )
    if wait:
        assert progress is not None
        if not settings.sqs:  # SQS workers run without remote control: none would answer
            with reaching("broker", settings.broker_url):
                consumers = _consumers(celery, BATCH_QUEUE)
            if not consumers:
                click.echo(
                    f"no worker is consuming the '{BATCH_QUEUE}' queue on {safe_url(settings.broker_url)}: "
                    "the run waits until one starts, e.g. `celery -A worker worker -Q derivatives,batch` "
                    "with the same TACHYON_BROKER_URL and TACHYON_S3_ENDPOINT",
                    err=True,
                )
        with reaching(*_progress_service(settings)):
            sys.exit(_follow(progress, run, timeout))


def _progress_service(settings: Settings) -> tuple[str, str | None]:
    """The name and address of the store of batch progress, for a one-line failure."""
    if settings.effective_lock_url:
        return "Redis", settings.effective_lock_url
    return "DynamoDB (the job table)", settings.job_table


def _consumers(celery: Any, queue: str, timeout: float = 1.0) -> list[str]:
    """The workers that answer within ``timeout`` and consume ``queue`` (a Celery broadcast)."""
    replies = celery.control.inspect(timeout=timeout).active_queues() or {}
    return sorted(name for name, queues in replies.items() if any(q.get("name") == queue for q in queues))


def _follow(progress: ProgressStore, run: str, timeout: float | None) -> int:
    """Show the run's progress until it is finished; print the summary; return the exit status."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    deadline = None if timeout is None else time.monotonic() + timeout
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("listing", total=None)
        while True:
            state = progress.read(run)
            if state is None:
                raise click.ClickException(f"batch run {run} is not in the progress store (expired?)")
            bar.update(
                task,
                description="rendering" if state.listed else f"listing ({state.originals} originals)",
                total=state.expected if state.listed else None,
                completed=state.done,
            )
            if state.finished:
                break
            if deadline is not None and time.monotonic() > deadline:
                click.echo(f"gave up waiting after {timeout:g} s; the run goes on", err=True)
                break
            time.sleep(0.5)
    state = progress.read(run, with_failures=True)
    assert state is not None
    click.echo(f"originals:     {state.originals}")
    click.echo(f"rendered:      {state.rendered}")
    click.echo(f"already fresh: {state.fresh}")
    click.echo(f"failed:        {state.failed}")
    for name, reason in sorted(state.failures.items()):
        click.echo(f"  {name}: {reason}")
    if not state.finished:
        return 2
    return 1 if state.failed else 0


@click.command("purge")
@click.argument("original_key")
@click.option("--enqueue", is_flag=True, help="send the purge to the batch queue instead of running it here")
@_connection_options("bucket", "s3_endpoint", "broker_url")
def purge(original_key: str, enqueue: bool, **flags: Any) -> None:
    """Delete every derivative of ORIGINAL_KEY (e.g. uploads/2018/02/photo.jpg); the original stays."""
    settings = _settings(flags)
    if not settings.bucket:
        raise click.UsageError("no bucket: pass --bucket or set TACHYON_BUCKET")
    key = original_key.lstrip("/")
    decoded = unquote(key)
    from worker.app import configure

    celery = configure(settings)
    if enqueue:
        with reaching("broker", settings.broker_url):
            celery.send_task(PURGE_TASK, kwargs=PurgeJob(settings.bucket, key).to_kwargs(), queue=BATCH_QUEUE)
        click.echo(f"purge of s3://{settings.bucket}/{key} queued on '{BATCH_QUEUE}'")
        if decoded != key:
            click.echo(
                f"note: '{key}' looks URL-encoded; S3 keys are not (did you mean '{decoded}'?)", err=True
            )
        return
    from worker.purge import count_derivatives, purge_original

    where = settings.s3_endpoint or f"AWS ({settings.region})"
    with reaching("S3", where):
        count = purge_original(settings, settings.bucket, key)
    if count:
        click.echo(f"deleted {count} derivative(s) of s3://{settings.bucket}/{key}")
        _invalidate(settings, key)
        return
    click.echo(f"no derivatives of s3://{settings.bucket}/{key}: nothing deleted")
    if decoded != key:
        with reaching("S3", where):
            others = count_derivatives(settings, settings.bucket, decoded)
        hint = f"run `tachyon-edge purge '{decoded}'`" if others else "nothing to purge there either"
        click.echo(
            f"note: '{key}' looks URL-encoded; S3 keys are not: '{decoded}' has {others} "
            f"derivative(s) ({hint})",
            err=True,
        )


def _invalidate(settings: Settings, key: str) -> None:
    """Invalidate one original's CDN copies, when a distribution is configured and serves the key."""
    path = cdn_path(key, settings.cloudfront_origin_path)
    if not settings.cloudfront_distribution_id or path is None:
        return
    from purger.cdn import invalidate
    from purger.handler import client

    with reaching("CloudFront", settings.cloudfront_distribution_id):
        sent = invalidate(client(settings, "cloudfront"), settings, [path], uuid.uuid4().hex)
    if sent is not None:
        click.echo(f"invalidation {sent.id} on {settings.cloudfront_distribution_id}: {' '.join(sent.paths)}")


@click.command("purge-events")
@click.option("--queue-url", help="the S3 events queue [default: queue_prefix + 'events', by GetQueueUrl]")
@click.option(
    "--window", type=float, default=30.0, show_default=True, help="seconds to gather events per batch"
)
@click.option("--once", is_flag=True, help="purge one window's events, then exit")
@_connection_options("bucket", "s3_endpoint")
def purge_events(queue_url: str | None, window: float, once: bool, **flags: Any) -> None:
    """Purge originals changed in S3, from the bucket's event queue (the purge Lambda, as a process).

    Deletes each changed original's derivatives and, with
    TACHYON_CLOUDFRONT_DISTRIBUTION_ID, invalidates their CDN paths in one
    coalesced invalidation per window. Run one per distribution.
    """
    settings = _settings(flags)
    from purger.consumer import events_queue_url, run_once

    with reaching("SQS (the events queue)", queue_url or settings.queue_prefix + "events"):
        url = events_queue_url(settings, queue_url)
    while True:
        outcome = run_once(settings, url, window=window)
        if outcome.originals or outcome.failed:
            click.echo(
                f"purged {outcome.originals} original(s), {outcome.deleted} derivative(s); "
                f"invalidation {outcome.invalidation or '-'}; {len(outcome.failed)} message(s) to retry"
            )
        if once:
            return


@click.command("queue-depth")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@_connection_options("broker_url")
def queue_depth(as_json: bool, **flags: Any) -> None:
    """Print the number of waiting messages of each queue (what an autoscaler reads).

    Redis: the length of the list named after the queue (KEDA's redis scaler,
    listName=derivatives); unacked: delivered, not yet acknowledged. SQS: each
    queue's ApproximateNumberOfMessages (visible), its messages in flight
    (received, not yet deleted; unacked is their sum) and its dead-letter queue's depth.
    """
    settings = _settings(flags)
    with reaching("broker", settings.broker_url):
        depths = _depths(settings)
    if as_json:
        click.echo(json.dumps(depths))
        return
    for name, depth in depths.items():
        click.echo(f"{name}\t{depth}")


def _depths(settings: Settings) -> dict[str, int]:
    url = settings.broker_url
    if url.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        pipe = client.pipeline(transaction=False)
        for name in QUEUES:
            pipe.llen(name)
            for step in _PRIORITY_STEPS:
                pipe.llen(f"{name}{_PRIORITY_SEP}{step}")
        counts = pipe.execute()
        per = 1 + len(_PRIORITY_STEPS)
        depths = {name: sum(counts[i * per : (i + 1) * per]) for i, name in enumerate(QUEUES)}
        depths["unacked"] = int(client.hlen("unacked"))  # delivered, not yet acknowledged (running)
        return depths
    if settings.sqs:
        return _sqs_depths(settings)
    if url.startswith("memory://"):
        raise click.ClickException("the memory:// broker lives inside one process; no depth to read")
    raise click.ClickException(f"queue depth is not supported for broker {url.split(':', 1)[0]}://")


def _sqs_depths(settings: Settings) -> dict[str, int]:
    """Visible messages per queue, in flight (received, not yet deleted), and in each dead-letter queue."""
    from worker.app import sqs_queue_url
    from worker.s3 import aws_client

    sqs = aws_client(settings, "sqs")
    visible: dict[str, int] = {}
    extra: dict[str, int] = {}
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "RedrivePolicy"]
    for name in QUEUES:
        with reaching(f"SQS (queue '{name}')", sqs.meta.endpoint_url):
            url = sqs_queue_url(settings, name)
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
            visible[name] = int(attributes["ApproximateNumberOfMessages"])
            extra[f"{name}_in_flight"] = int(attributes["ApproximateNumberOfMessagesNotVisible"])
            if "RedrivePolicy" in attributes:  # a dead-letter queue is in the same account and region
                dead = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"].rsplit(":", 1)[1]
                dead_url = f"{url.rsplit('/', 1)[0]}/{dead}"
                counts = sqs.get_queue_attributes(QueueUrl=dead_url, AttributeNames=[names[0]])
                extra[f"{name}_dead"] = int(counts["Attributes"][names[0]])
    unacked = sum(count for key, count in extra.items() if key.endswith("_in_flight"))
    return visible | {"unacked": unacked} | extra


@click.command("worker-health")
@click.option(
    "--node",
    default=None,
    help="worker node name [default: celery@$HOSTNAME, Celery's default for this host]",
)
@click.option("--timeout", type=float, default=5.0, show_default=True, help="seconds to wait for the reply")
@_connection_options("broker_url")
def worker_health(node: str | None, timeout: float, **flags: Any) -> None:
    """Exit 0 when this host's worker answers a Celery ping, 1 otherwise (a container healthcheck).

    On SQS, where workers run without remote control, the worker's heartbeat
    file (touched every 10 s by its event loop) must be under a minute old.
    """
    settings = _settings(flags)
    name = node or f"celery@{socket.gethostname()}"
    if settings.sqs:  # no remote control on SQS: read the worker's heartbeat file instead
        from worker.health import STALE, age

        seconds = age(name)
        if seconds is not None and seconds < STALE:
            click.echo(f"{name}: ok (heartbeat {seconds:.0f} s ago)")
            return
        state = "no heartbeat file" if seconds is None else f"last heartbeat {seconds:.0f} s ago"
        click.echo(f"unhealthy: {name}: {state}", err=True)
        sys.exit(1)
    from worker.app import configure

    celery = configure(settings)
    try:
        replies = celery.control.ping(destination=[name], timeout=timeout)
    except Exception as error:
        click.echo(f"unhealthy: broker unreachable at {safe_url(settings.broker_url)}: {error}", err=True)
        sys.exit(1)
    if any(name in reply for reply in replies or []):
        click.echo(f"{name}: ok")
        return
    click.echo(f"unhealthy: no reply from {name} within {timeout:g} s", err=True)
    sys.exit(1)


__all__ = ["purge", "purge_events", "queue_depth", "reprocess", "worker_health"]
