"""``tachyon-edge sign URL``: the URL with its ``s=`` signature (docs/security.md, "Signed URLs").

The key is the first of the configured ``signing_keys`` unless ``--key`` names one; an
expiry is optional (``--expires`` seconds from now, or ``--expires-at`` Unix time).
"""

from __future__ import annotations

import time

import click

from core.settings import get_settings
from core.signing import sign_url


@click.command("sign")
@click.argument("url")
@click.option("--key", default=None, help="Signing key (default: the first of signing_keys).")
@click.option("--expires", type=click.IntRange(min=1), default=None, help="Valid for this many seconds.")
@click.option("--expires-at", type=click.IntRange(min=1), default=None, help="Valid until this Unix time.")
def sign(url: str, key: str | None, expires: int | None, expires_at: int | None) -> None:
    """Print URL signed, so the edge serves it when signed URLs are on."""
    if expires is not None and expires_at is not None:
        raise click.UsageError("give --expires or --expires-at, not both")
    chosen = key or next(iter(get_settings().signing_keys), None)
    if not chosen:
        raise click.UsageError("no signing key: set signing_keys (TACHYON_SIGNING_KEYS) or pass --key")
    until = expires_at if expires is None else int(time.time()) + expires
    click.echo(sign_url(url, chosen, expires=until))
