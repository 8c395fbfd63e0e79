"""The ``tachyon-edge`` command line: one click group, one module per command."""

from __future__ import annotations

import click

from edge.commands.build import build_lambda
from edge.commands.dev import dev
from edge.commands.render import render
from worker.commands import purge, queue_depth, reprocess, worker_health


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tachyon-edge")
def main() -> None:
    """Tachyon Edge: on-demand image derivatives for S3 behind CloudFront."""


for command in (render, build_lambda, dev, reprocess, purge, queue_depth, worker_health):
    main.add_command(command)
