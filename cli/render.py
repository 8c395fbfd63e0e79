"""``tachyon-edge render``: render a local file exactly as the service would.

The output format and key follow the same rules as the edge: the source format
is the one the key's extension names (``--key``, default the file's name), the
bytes are what decode, and ``--accept`` plays the viewer's Accept header. One
JSON line describes the result, so scripts can use it. Bad arguments or a
refused image exit with status 2 and a one-line reason, never a traceback; so
do arguments with no transform in them, which the service passes through.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NoReturn

import click

from core.args import parse_query
from core.errors import TachyonError
from core.formats import EXTENSION, format_of_path
from core.keys import name_derivative
from core.settings import get_settings

EXIT_REFUSED = 2


@click.command("render")
@click.argument("src", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--args", "query", default="", help="URL query string, e.g. 'w=300&h=200&crop=1'.")
@click.option("--key", "original_key", default=None, help="Original's S3 key (default: SRC's file name).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the derivative (default: its file name, in the current folder).",
)
@click.option("--accept", default=None, help="Accept header to choose AVIF/WebP from, e.g. 'image/webp'.")
def render(src: Path, query: str, original_key: str | None, output: Path | None, accept: str | None) -> None:
    """Render SRC with URL arguments and print {"format","width","height","bytes","key"}."""
    from core.processing import probe, render_transform

    settings = get_settings()
    limits = settings.limits()
    key = original_key or src.name
    try:
        source = src.read_bytes()
    except OSError as error:
        _fail(f"cannot read {src}: {error.strerror or error}")
    try:
        transform = parse_query(query.lstrip("?"), limits)
        if transform is None:
            _fail(
                f"no transform argument in --args {query!r}: the service passes such a URL through and "
                "serves the original unchanged, so there is nothing to render (e.g. --args 'w=300')"
            )
        info = probe(source, limits)
        named = format_of_path(key) or info.format
        target = name_derivative(
            key, transform, named, animated=info.animated, accept=accept, prefix=settings.derivative_prefix
        )
        rendered = render_transform(source, transform, target.format, limits)
    except TachyonError as error:
        _fail(error.reason)
    # the key's name, with the extension of what it holds (a static GIF's derivative is a PNG)
    path = output or Path(target.key.rsplit("/", 1)[-1]).with_suffix("." + EXTENSION[target.format])
    try:
        path.write_bytes(rendered.data)
    except OSError as error:
        _fail(f"cannot write {path}: {error.strerror or error}")
    line = {
        "format": rendered.format,
        "width": rendered.width,
        "height": rendered.height,
        "bytes": len(rendered.data),
        "key": target.key,
    }
    click.echo(json.dumps(line))


def _fail(reason: str) -> NoReturn:
    click.echo(f"tachyon-edge render: {reason}", err=True)
    sys.exit(EXIT_REFUSED)
