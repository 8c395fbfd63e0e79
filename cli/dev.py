"""``tachyon-edge dev``: the whole flow on one machine, embedded where nothing is configured."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from core.settings import Settings


@click.command("dev")
@click.option(
    "--originals",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of originals to upload (key = path inside it). Default with embedded S3: the samples.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8080, show_default=True, type=int, help="Port to listen on (0: any free one)."
)
@click.option("--s3-endpoint", help="Use this S3 endpoint (MinIO, …) instead of an embedded one.")
@click.option("--bucket", help="Bucket of originals (default: $TACHYON_BUCKET, else tachyon-dev).")
@click.option("-v", "--verbose", is_flag=True, help="Also log the edge functions' JSON trace lines.")
@click.option(
    "--broker", help="Celery broker URL; a separate worker renders (default: in-process on memory://)."
)
def dev(  # noqa: PLR0917 — one parameter per click option
    originals: Path | None,
    host: str,
    port: int,
    s3_endpoint: str | None,
    bucket: str | None,
    broker: str | None,
    verbose: bool,
) -> None:
    """Run a local CloudFront with the edge functions in front of S3, plus a worker.

    With no flags and no TACHYON_* environment everything is embedded: an S3
    server (moto) seeded with sample images, a worker thread on an in-memory
    queue, and the local CloudFront on http://127.0.0.1:8080/. Each flag (or
    its TACHYON_* variable) swaps an embedded part for a real one.
    """
    from edge.local.server import CannotListen, dev_stack, run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("werkzeug", "botocore", "celery", "kombu"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # memory:// has no host, and kombu says so on every connection.
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    # One line per request is ours (edge.local); the edge's own traces only on request.
    logging.getLogger("tachyon.edge").setLevel(logging.INFO if verbose else logging.WARNING)
    from cli.services import reaching

    stack_plan = dev_stack(originals=originals, s3_endpoint=s3_endpoint, bucket=bucket, broker=broker)
    try:
        with reaching("S3", stack_plan.settings.s3_endpoint or "AWS"):  # seeding the bucket
            run(stack_plan, host, port, start_worker=_start_worker, echo=_echo)
    except CannotListen as error:
        raise click.ClickException(str(error)) from error


def _start_worker(settings: Settings) -> Callable[[], None]:
    """A Celery worker thread in this process on the stack's (``memory://``) broker."""
    from worker.app import configure, start_in_process_worker

    return start_in_process_worker(configure(settings), loglevel="WARNING")


def _echo(line: str) -> None:
    """Print a line and flush at once, so a supervising process sees the URLs immediately."""
    click.echo(line)
    sys.stdout.flush()
