"""`tachyon-edge build-lambda`: the Lambda@Edge deployment zip."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("build-lambda")
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML settings to bundle as core/tachyon.toml (Lambda@Edge has no environment variables).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("dist/edge.zip"),
    show_default=True,
    help="Where to write the zip.",
)
@click.option(
    "--host-platform",
    is_flag=True,
    help="Use wheels for this machine's Python instead of Lambda's (x86_64, Python 3.12); for local checks.",
)
@click.option(
    "--compile-with",
    metavar="PYTHON",
    help="A Python 3.12 interpreter to pre-compile byte-code with (default: python3.12 if found).",
)
@click.option(
    "--with",
    "extra",
    multiple=True,
    metavar="REQUIREMENT",
    help="Another package to bundle (repeatable).",
)
@click.option(
    "--function",
    type=click.Choice(["edge", "purge"]),
    default="edge",
    show_default=True,
    help="edge: the Lambda@Edge triggers; purge: the function fed by the bucket's event queue.",
)
def build_lambda(
    *,
    config: Path | None,
    output: Path,
    host_platform: bool,
    compile_with: str | None,
    extra: tuple[str, ...],
    function: str,
) -> None:
    """Build a Lambda zip: modules, manylinux wheels, bundled config (≤ 50 MB).

    A config with an unknown key or an invalid value is refused.
    """
    from cli.lambda_zip import FUNCTIONS, BuildError, build

    try:
        built = build(
            output,
            config,
            lambda_platform=not host_platform,
            compile_with=compile_with,
            extra=extra,
            function=FUNCTIONS[function],
        )
    except BuildError as error:
        raise click.ClickException(str(error)) from None
    compiled = "with" if built.compiled else "without"
    click.echo(f"{built.path}: {built.size / 1e6:.1f} MB zipped, {built.files} files, {compiled} byte-code")
    if not built.compiled:
        from cli.lambda_zip import PYTHON_VERSION, SOURCE_ONLY_EXTRA_S

        cost = SOURCE_ONLY_EXTRA_S
        click.echo(
            f"warning: no byte-code: no Python {PYTHON_VERSION} was found to compile with (install "
            f"python{PYTHON_VERSION} or pass --compile-with). Lambda's code directory is read-only, so every "
            f"cold start compiles each module it imports: about {cost['hit']:g} s more before the first hit "
            f"is answered, {cost['render']:g} s more before the first render or enqueue "
            "(measured by benchmarks/bench_bytecode.py).",
            err=True,
        )
