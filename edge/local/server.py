"""Running the local stack: embedded S3 (moto), an in-process worker, and the local CloudFront.

``tachyon-edge dev`` is a thin click wrapper around ``run``. Each part is
embedded only when no real one is configured:

- S3: moto's ``ThreadedMotoServer`` on a free loopback port, unless an S3
  endpoint is given (flag or ``TACHYON_S3_ENDPOINT``);
- queue and worker: a Celery worker thread on the ``memory://`` broker, unless
  a broker is given (flag or ``TACHYON_BROKER_URL``) — then a separate
  ``celery -A worker worker`` (or the compose service) does the rendering.

Shutdown on SIGINT/SIGTERM stops the HTTP server, then the worker thread,
then moto, and returns normally so the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from core.settings import Settings
from edge.local.cloudfront import LocalCloudFront, RequestLogger, log_request
from edge.local.index import bucket_lister, index_route
from edge.local.seed import is_image, s3_client, samples_dir, seed

log = logging.getLogger("edge.local")

DEFAULT_BUCKET = "tachyon-dev"
MEMORY_BROKER = "memory://"


class CannotListen(Exception):
    """The address is taken or not ours to bind; the message says which."""


@dataclass
class DevStack:
    """What ``dev`` will run: the settings in force and which parts are embedded."""

    settings: Settings
    embedded_s3: bool
    embedded_worker: bool
    originals: Path | None


def dev_stack(
    *,
    originals: Path | None = None,
    s3_endpoint: str | None = None,
    bucket: str | None = None,
    broker: str | None = None,
) -> DevStack:
    """Decide the parts from flags and the ``TACHYON_*`` environment (flags win)."""
    overrides: dict[str, Any] = {}
    if s3_endpoint:
        overrides["s3_endpoint"] = s3_endpoint
    if bucket:
        overrides["bucket"] = bucket
    if broker:
        overrides["broker_url"] = broker
    configured = Settings(**overrides)
    embedded_s3 = configured.s3_endpoint is None
    embedded_worker = (
        "broker_url" not in configured.model_fields_set or configured.broker_url == MEMORY_BROKER
    )
    final: dict[str, Any] = {"bucket": configured.bucket or DEFAULT_BUCKET}
    if embedded_worker:
        final["broker_url"] = MEMORY_BROKER
    settings = configured.model_copy(update=final)
    if embedded_s3 and originals is None:
        originals = samples_dir()
    return DevStack(settings, embedded_s3, embedded_worker, originals)


def start_moto() -> tuple[Callable[[], None], str]:
    """moto's S3 server on a free loopback port: (stop, endpoint URL)."""
    from moto.server import ThreadedMotoServer

    # moto accepts any credentials; botocore only needs some to sign with.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "tachyon-dev")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "tachyon-dev")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server.stop, f"http://{host}:{port}"


#: Starts a worker in this process for the given settings; returns its stop function.
WorkerStarter = Callable[[Settings], Callable[[], None]]


def build_app(
    settings: Settings, *, on_request: RequestLogger = log_request
) -> tuple[LocalCloudFront, web.Application]:
    """The local CloudFront plus the ``/`` page listing the bucket's originals."""
    assert settings.bucket is not None
    cloudfront = LocalCloudFront(settings, on_request=on_request)
    lister = bucket_lister(s3_client(settings), settings.bucket, settings.derivative_prefix)
    cloudfront.extra_routes.append(
        ("GET", "/", index_route(lister, bucket=settings.bucket, prefix=settings.derivative_prefix))
    )
    return cloudfront, cloudfront.app()


async def serve(app: web.Application, host: str, port: int, ready: Callable[[str], None]) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then shut the server down."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as error:
            raise CannotListen(f"cannot serve on {host}:{port}: {error.strerror or error}") from error
        bound = runner.addresses[0]
        ready(f"http://{_url_host(host)}:{bound[1]}/")
        await stop.wait()
    finally:
        await runner.cleanup()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def run(
    stack_plan: DevStack,
    host: str,
    port: int,
    *,
    start_worker: WorkerStarter | None = None,
    echo: Callable[[str], None] = print,
) -> None:
    """Start the planned parts, serve until a signal, and stop everything in reverse order.

    ``start_worker`` runs the embedded worker (the command line passes the
    worker package's starter: the edge never imports the worker).
    """
    with ExitStack() as stack:
        settings = stack_plan.settings
        if stack_plan.embedded_s3:
            stop_moto, endpoint = start_moto()
            stack.callback(stop_moto)
            settings = settings.model_copy(update={"s3_endpoint": endpoint})
            echo(f"S3 (embedded moto):   {endpoint}  bucket {settings.bucket}")
        else:
            echo(f"S3:                   {settings.s3_endpoint}  bucket {settings.bucket}")
        assert settings.bucket is not None
        keys: list[str] = []
        if stack_plan.originals is not None:
            keys = seed(s3_client(settings), settings.bucket, stack_plan.originals)
            echo(f"Seeded {len(keys)} originals from {stack_plan.originals}")
        if stack_plan.embedded_worker:
            if start_worker is None:
                raise ValueError("the stack embeds a worker: pass start_worker")
            stack.callback(start_worker(settings))
            echo("Worker (in-process):  memory:// broker, queues derivatives,batch")
        else:
            echo(f"Worker:               not started here; run one on {settings.broker_url}")
        _, app = build_app(settings)

        def ready(url: str) -> None:
            echo(f"Local CloudFront:     {url}")
            echo(f"Open {url} to see originals beside their derivatives, or e.g.")
            images = sorted((k for k in keys if is_image(k)), key=lambda k: not k.endswith(".jpg"))
            example = images[0] if images else "<key>"
            echo(f"  {url}{quote(example, safe='/')}?w=300")
            echo("Press Ctrl+C to stop.")

        asyncio.run(serve(app, host, port, ready))
        echo("Stopping…")
