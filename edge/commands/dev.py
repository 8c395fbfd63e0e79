"""`tachyon-edge dev` (placeholder until implemented)."""

from __future__ import annotations

import click


@click.command("dev")
def dev() -> None:
    """Not implemented yet."""
    raise click.ClickException("not implemented yet")
