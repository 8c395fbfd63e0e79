"""The Celery app, configured from the same typed ``Settings`` as the edge.

``celery_config`` is the one place the Celery settings are decided: late
acknowledgement with requeue on a lost worker, prefetch 1, soft/hard time
limits, recycling of pool processes, a visibility timeout above the hard limit,
no result backend, and the live queue drained first. Why each: docs/worker.md.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from core.jobs import BATCH_QUEUE, LIVE_QUEUE, QUEUES, RENDER_TASK, sqs_queue_name
from core.settings import Settings, get_settings
from worker.health import Heartbeat

log = logging.getLogger("tachyon.worker")

#: Seconds the visibility timeout exceeds the hard time limit by default.
VISIBILITY_MARGIN = 60
#: Seconds a Redis broker socket may stay silent before the connection counts as lost.
REDIS_SOCKET_TIMEOUT = 10
#: Seconds between checks of an idle pooled Redis connection before it is used.
REDIS_HEALTH_CHECK = 10
#: Seconds between a busy SQS consumer's checks for room to take the next message.
SQS_POLLING_INTERVAL = 0.01

app = Celery("tachyon", include=["worker.tasks", "worker.batch", "worker.purge", "worker.metrics"])
app.steps["consumer"].add(Heartbeat)
#: The settings the tasks run with (one slot, replaced by ``configure``).
_current: dict[str, Settings] = {}


def visibility_timeout(settings: Settings) -> int:
    """Redelivery delay of an unacknowledged message: explicit, else hard limit + margin."""
    return settings.visibility_timeout or settings.task_time_limit + VISIBILITY_MARGIN


def transport_options(settings: Settings) -> dict[str, Any]:
    """Broker options: redelivery after the visibility timeout, live queue first."""
    timeout = visibility_timeout(settings)
    options: dict[str, Any] = {"visibility_timeout": timeout}
    if settings.broker_url.startswith(("redis://", "rediss://")):
        # kombu sweeps unacknowledged messages every interval × throttle seconds;
        # keep that sweep well under the timeout so a killed worker's job comes back soon.
        interval = max(1, min(10, timeout // 4))
        options.update(
            # A frozen or partitioned Redis is noticed within seconds, not TCP's minutes;
            # BRPOP waits 1 s at a time, well under the read timeout (docs/worker.md, "Faults").
            socket_timeout=REDIS_SOCKET_TIMEOUT,
            socket_connect_timeout=REDIS_SOCKET_TIMEOUT,
            socket_keepalive=True,
            # No retry_on_timeout: it turns off kombu's pipelined publish batches (a timed-out
            # pipeline could be replayed), a third of the batch fan-out's speed; a timeout is a
            # lost connection, which Celery re-establishes (broker_connection_max_retries).
            health_check_interval=REDIS_HEALTH_CHECK,
            queue_order_strategy="priority",
            unacked_restore_interval=interval,
            unacked_restore_throttle=max(1, timeout // (2 * interval)),
        )
    elif settings.sqs:
        options.update(
            region=settings.effective_queue_region,
            # Only these queues, by URL: kombu then never lists or creates a queue.
            predefined_queues=PredefinedQueues(settings),
            # Seconds before a busy consumer looks again for room to take a message
            # (kombu's default, 1 s, costs prefetch-1 workers a second per task).
            polling_interval=SQS_POLLING_INTERVAL,
        )
    return options


def sqs_queue_url(settings: Settings, name: str) -> str:
    """The URL of one Celery queue on SQS: configured, else ``GetQueueUrl`` (never created)."""
    if name in settings.queue_urls:
        return settings.queue_urls[name]
    from worker.s3 import aws_client

    answer = aws_client(settings, "sqs").get_queue_url(QueueName=sqs_queue_name(name, settings.queue_prefix))
    return str(answer["QueueUrl"])


def sqs_queue_urls(settings: Settings) -> dict[str, str]:
    """The URL of each Celery queue on SQS."""
    return {name: sqs_queue_url(settings, name) for name in QUEUES}


class PredefinedQueues(Mapping[str, dict[str, str]]):
    """kombu's ``predefined_queues``, looked up on first use rather than when the app is configured.

    ``configure`` runs on import (the CLI imports the worker app for commands
    that never touch SQS); kombu reads this mapping when it opens a channel.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._urls: dict[str, str] | None = None

    def _resolved(self) -> dict[str, str]:
        if self._urls is None:
            self._urls = sqs_queue_urls(self._settings)
        return self._urls

    def __getitem__(self, name: str) -> dict[str, str]:
        return {"url": self._resolved()[name]}

    def __iter__(self) -> Iterator[str]:
        return iter(QUEUES)

    def __len__(self) -> int:
        return len(QUEUES)


def _queue(name: str) -> Queue:
    return Queue(name, Exchange(name), routing_key=name)  # type: ignore[no-untyped-call]


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery configuration derived from ``Settings`` (one place)."""
    return {
        "broker_url": settings.broker_url,
        "broker_connection_retry_on_startup": True,
        # Retry a lost broker connection forever: a broker restart or failover must not end the worker.
        "broker_connection_retry": True,
        "broker_connection_max_retries": None,
        "broker_transport_options": transport_options(settings),
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.task_time_limit,
        "worker_max_tasks_per_child": settings.worker_max_tasks_per_child,
        "worker_max_memory_per_child": settings.worker_max_memory_per_child,
        # Order matters: with queue_order_strategy=priority the first queue is drained first.
        # Each queue on its own direct exchange, as Celery creates it for send_task(queue=...),
        # so the edge (which has no queue configuration) and the worker agree on the binding.
        "task_queues": tuple(_queue(name) for name in (LIVE_QUEUE, BATCH_QUEUE)),
        "task_default_queue": BATCH_QUEUE,
        "task_routes": {RENDER_TASK: {"queue": LIVE_QUEUE}, "tachyon.*": {"queue": BATCH_QUEUE}},
        "worker_hijack_root_logger": False,
        # Remote control needs a broadcast queue per worker, which SQS would have to create.
        "worker_enable_remote_control": not settings.sqs,
    }


def configure(settings: Settings | None = None) -> Celery:
    """(Re)configure the app and the tasks' settings; returns the app.

    Called on import with ``get_settings()`` (environment, config file); the
    CLI and the embedded dev mode call it again with flags applied.
    """
    chosen = settings or get_settings()
    previous = _current.get("settings")
    _current["settings"] = chosen
    if previous is not None and previous.broker_url != chosen.broker_url:
        _drop_connections()
    app.conf.update(celery_config(chosen))
    from worker import s3

    s3.reset()
    return app


def _drop_connections() -> None:
    """Forget broker connections made with other settings (Celery caches them on the app).

    Only references are dropped: a connection still in use elsewhere closes when released.
    """
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
    app.__dict__.pop("control", None)  # its mailbox holds the old producer pool


def current_settings() -> Settings:
    """The settings the tasks of this process run with."""
    return _current.get("settings") or get_settings()


def start_in_process_worker(
    celery_app: Celery | None = None,
    queues: Sequence[str] = (LIVE_QUEUE, BATCH_QUEUE),
    *,
    pool: str = "threads",
    concurrency: int = 2,
    loglevel: str = "INFO",
) -> Callable[[], None]:
    """Run a worker in a daemon thread of this process; returns a function that stops it.

    For the embedded dev mode (``memory://`` broker, whose queues exist only in
    this process). Uses Celery's ``WorkController`` rather than the CLI worker,
    which installs signal handlers and so must own the main thread.
    """
    from celery.worker import WorkController

    target = celery_app or app
    ready = threading.Event()

    class _Controller(WorkController):  # type: ignore[misc]
        def on_consumer_ready(self, consumer: Any) -> None:
            super().on_consumer_ready(consumer)
            ready.set()

    controller = _Controller(
        app=target,
        pool=pool,
        concurrency=concurrency,
        queues=list(queues),
        loglevel=loglevel,
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
    )
    thread = threading.Thread(target=controller.start, name="tachyon-worker", daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the in-process worker did not start within 30 s")

    def stop() -> None:
        controller.stop(in_sighandler=False)
        thread.join(15)

    return stop


configure()
