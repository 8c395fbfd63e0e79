"""`tachyon-edge build-lambda` (placeholder until implemented)."""

from __future__ import annotations

import click


@click.command("build-lambda")
def build_lambda() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")
