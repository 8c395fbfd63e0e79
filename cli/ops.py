"""Worker-side commands of ``tachyon-edge``: reprocess, purge, queue-depth, worker-health.

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
from typing import Any
from urllib.parse import unquote

import click

from cli.services import reaching, safe_url
from core.args import parse_query
from core.errors import InvalidArgument
from core.jobs import BATCH_QUEUE, PURGE_TASK, QUEUES, REPROCESS_TASK, PurgeJob, ReprocessJob
from core.settings import Settings

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
    from worker.batch import start_run
    from worker.s3 import lock_client

    celery = configure(settings)
    redis = lock_client(settings)
    if wait and redis is None:
        raise click.UsageError("--wait reads progress from Redis: set TACHYON_LOCK_URL (or a Redis broker)")
    run = uuid.uuid4().hex[:12]
    if redis is not None:
        with reaching("Redis", settings.effective_lock_url):
            start_run(redis, run, bucket=settings.bucket, prefix=prefix, queries=normalised)
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
        with reaching("broker", settings.broker_url):
            consumers = _consumers(celery, BATCH_QUEUE)
        if not consumers:
            click.echo(
                f"no worker is consuming the '{BATCH_QUEUE}' queue on {safe_url(settings.broker_url)}: "
                "the run waits until one starts, e.g. `celery -A worker worker -Q derivatives,batch` "
                "with the same TACHYON_BROKER_URL and TACHYON_S3_ENDPOINT",
                err=True,
            )
        with reaching("Redis", settings.effective_lock_url):
            sys.exit(_follow(redis, run, timeout))


def _consumers(celery: Any, queue: str, timeout: float = 1.0) -> list[str]:
    """The workers that answer within ``timeout`` and consume ``queue`` (a Celery broadcast)."""
    replies = celery.control.inspect(timeout=timeout).active_queues() or {}
    return sorted(name for name, queues in replies.items() if any(q.get("name") == queue for q in queues))


def _follow(redis: Any, run: str, timeout: float | None) -> int:
    """Show the run's progress until it is finished; print the summary; return the exit status."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from worker.batch import read_progress

    deadline = None if timeout is None else time.monotonic() + timeout
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    state = read_progress(redis, run)
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("listing", total=None)
        while True:
            state = read_progress(redis, run)
            if state is None:
                raise click.ClickException(f"batch run {run} is not in Redis (expired?)")
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
    state = read_progress(redis, run, with_failures=True)
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
            return
        click.echo(f"no derivatives of s3://{settings.bucket}/{key}: nothing deleted")
        if decoded != key:
            others = count_derivatives(settings, settings.bucket, decoded)
            hint = f"run `tachyon-edge purge '{decoded}'`" if others else "nothing to purge there either"
            click.echo(
                f"note: '{key}' looks URL-encoded; S3 keys are not: '{decoded}' has {others} "
                f"derivative(s) ({hint})",
                err=True,
            )


@click.command("queue-depth")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@_connection_options("broker_url")
def queue_depth(as_json: bool, **flags: Any) -> None:
    """Print the number of waiting messages of each queue (what an autoscaler reads).

    Redis: the length of the list named after the queue (KEDA's redis scaler,
    listName=derivatives). SQS: ApproximateNumberOfMessages of the queue.
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
    if url.startswith("sqs://"):
        import boto3
        from botocore.config import Config

        from worker.app import configure

        options = configure(settings).conf.broker_transport_options or {}
        config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"})
        sqs = boto3.client("sqs", region_name=options.get("region", settings.region), config=config)
        depths = {}
        for name in QUEUES:
            with reaching(f"SQS (queue '{name}')", sqs.meta.endpoint_url):
                queue_url = sqs.get_queue_url(QueueName=f"{options.get('queue_name_prefix', '')}{name}")[
                    "QueueUrl"
                ]
                attributes = sqs.get_queue_attributes(
                    QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]
            depths[name] = int(attributes["ApproximateNumberOfMessages"])
        return depths
    if url.startswith("memory://"):
        raise click.ClickException("the memory:// broker lives inside one process; no depth to read")
    raise click.ClickException(f"queue depth is not supported for broker {url.split(':', 1)[0]}://")


@click.command("worker-health")
@click.option(
    "--node",
    default=None,
    help="worker node name [default: celery@$HOSTNAME, Celery's default for this host]",
)
@click.option("--timeout", type=float, default=5.0, show_default=True, help="seconds to wait for the reply")
@_connection_options("broker_url")
def worker_health(node: str | None, timeout: float, **flags: Any) -> None:
    """Exit 0 when this host's worker answers a Celery ping, 1 otherwise (a container healthcheck)."""
    settings = _settings(flags)
    from worker.app import configure

    celery = configure(settings)
    name = node or f"celery@{socket.gethostname()}"
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


__all__ = ["purge", "queue_depth", "reprocess", "worker_health"]
