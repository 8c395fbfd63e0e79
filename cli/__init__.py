"""The ``tachyon-edge`` command line: one click group, one module per command."""

from __future__ import annotations

import click

from cli.build import build_lambda
from cli.dev import dev
from cli.ops import purge, purge_events, queue_depth, reprocess, worker_health
from cli.render import render
from cli.sign import sign
from cli.stack import package_stack
from cli.worker import worker


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tachyon-edge")
def main() -> None:
    """Tachyon Edge: on-demand image derivatives for S3 behind CloudFront."""


for command in (
    render,
    build_lambda,
    dev,
    reprocess,
    purge,
    purge_events,
    queue_depth,
    worker_health,
    package_stack,
    sign,
    worker,
):
    main.add_command(command)
