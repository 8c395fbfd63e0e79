"""``tachyon-edge worker``: the Celery worker, restarted when it exits on its own (``worker.supervisor``)."""

from __future__ import annotations

import sys

import click


@click.command(
    "worker",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(celery_args: tuple[str, ...]) -> None:
    """Run ``celery -A worker worker CELERY_ARGS`` and restart it if it exits (docs/worker.md, "Faults").

    Every argument goes to Celery (``-Q derivatives,batch -c 2 --loglevel INFO``).
    SIGTERM/SIGINT are passed on and end the supervisor too.
    """
    from worker.supervisor import supervise

    sys.exit(supervise(celery_args))
