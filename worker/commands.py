"""Worker-side commands of ``tachyon-edge`` (placeholders until implemented)."""

from __future__ import annotations

import click


@click.command("reprocess")
def reprocess() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")


@click.command("purge")
def purge() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")


@click.command("queue-depth")
def queue_depth() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")


@click.command("worker-health")
def worker_health() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")
