"""Build a Lambda deployment zip: the edge (Lambda@Edge) or the purge function, wheels, bundled config.

Lambda@Edge takes one zip (at most 50 MB), runs it on x86_64 with Python 3.12,
and gives it no environment variables. So the zip holds:

- the dependencies the edge imports, installed by pip from manylinux wheels for
  that platform (``--platform … --only-binary=:all: --target``), at the versions
  of ``requirements.lock`` (``cli.lock``), which the tests and images install too;
- only the ``core`` and ``edge`` modules the handler can reach (found by reading
  their imports), not the worker, the CLI, the local server or the tests;
- the configuration file as ``core/tachyon.toml``, which ``core.settings`` reads,
  and the fields the URL-only part of the edge reads, resolved and validated, as
  ``edge/settings.json`` (``edge.config``: a primary pass loads no pydantic).

The purge function (``--function purge``, a regular Lambda) is built the same
way from ``purger`` and ``core``, without Pillow or any queue client. An edge
whose bundled config uses SQS and no Redis is built without Celery and redis.

What the edge never loads is left out: botocore's models of other AWS services
(most of botocore's size), Celery's interactive shell dependencies, console
scripts, stubs and byte-code compiled for the build machine's Python. When an
interpreter of the target version is available the modules are compiled for it
(``unchecked-hash`` .pyc files, valid whatever the file times in the zip), which
saves compiling on every cold start: Lambda's code directory is read-only.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

    from core.settings import Settings

from packaging.utils import canonicalize_name

from cli.lock import LAMBDA_ENVIRONMENT, LOCK, pins

LAMBDA_LIMIT = 50 * 1024 * 1024
PYTHON_VERSION = "3.12"
#: Lambda's Python 3.12 runtime is Amazon Linux 2023 (glibc 2.34), x86_64.
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64")
#: Top-level packages installed as dependencies but never imported by the functions.
UNUSED_TOP_LEVEL = ("bin", "prompt_toolkit", "click_repl", "click_didyoumean", "click_plugins", "wcwidth")
#: What only the Redis queue path imports (a Celery app sending, the redis client for claims).
REDIS_ONLY = ("redis", "celery[redis]", "kombu[redis]")


@dataclass(frozen=True, slots=True)
class Function:
    """One Lambda function the package is for: where it starts and what it may import."""

    name: str
    entry: str
    #: Modules reached only lazily, by name.
    lazy_entries: tuple[str, ...]
    #: The packages whose modules are copied into the zip (the rest comes from wheels).
    packages: tuple[str, ...]
    #: What the function imports; the rest comes in as their dependencies.
    requirements: tuple[str, ...]
    #: botocore service models kept (credential providers included).
    services: frozenset[str]


#: The Lambda@Edge function (origin-request and origin-response).
EDGE = Function(
    "edge",
    "edge.handler",
    ("edge.flow", "core.settings", "core.processing", "edge.queue", "edge.aws"),
    ("core", "edge"),
    ("pillow", "cykooz-resizer", "pydantic-settings", "pydantic", "botocore", *REDIS_ONLY),
    frozenset({"s3", "sts", "sso", "sso-oidc", "sqs", "dynamodb"}),
)
#: The purge function (a regular Lambda on the S3 events queue).
PURGE = Function(
    "purge",
    "purger.handler",
    (),
    ("core", "purger"),
    ("pydantic-settings", "pydantic", "botocore"),
    frozenset({"s3", "sts", "sso", "sso-oidc", "cloudfront"}),
)
FUNCTIONS = {function.name: function for function in (EDGE, PURGE)}

#: Files only a compiler or a type checker reads.
SOURCE_ONLY = frozenset({".pyi", ".pyx", ".pxd", ".c", ".h"})

SOURCE_ROOT = Path(__file__).resolve().parent.parent
#: Seconds a cold start spends compiling when the zip has no byte-code, before a hit is answered and
#: before the first render or enqueue (benchmarks/bench_bytecode.py, docs/benchmarks/bytecode.json).
SOURCE_ONLY_EXTRA_S = {"hit": 0.01, "render": 1.3}


class BuildError(Exception):
    """The package could not be built (pip failed, config invalid, zip too large)."""


@dataclass(frozen=True, slots=True)
class Built:
    """The finished zip."""

    path: Path
    size: int
    files: int
    compiled: bool


def requirements_for(function: Function, config: Path | None) -> tuple[str, ...]:
    """What ``function`` needs with this bundled config: no Celery or redis when nothing uses Redis.

    An SQS broker without ``lock_url`` sends with botocore and claims in the
    DynamoDB job table (``edge.aws``): the Redis client and Celery never load.
    """
    if function is not EDGE or config is None:
        return function.requirements
    data = tomllib.loads(config.read_text())
    broker = str(data.get("broker_url", ""))
    if broker.startswith("sqs://") and not data.get("lock_url"):
        return tuple(r for r in function.requirements if r not in REDIS_ONLY)
    return function.requirements


def pinned_requirements(
    requirements: tuple[str, ...] = EDGE.requirements, lock: Path | None = None
) -> list[str]:
    """``requirements`` at the lock's versions for Lambda's Python (the versions the tests ran);
    without a lock (an installed package, not a checkout), at the versions installed here."""
    lock = lock or LOCK
    pinned = pins(lock, LAMBDA_ENVIRONMENT) if lock.is_file() else {}
    out = []
    for name in requirements:
        bare = name.partition("[")[0]
        try:
            version = pinned.get(canonicalize_name(bare)) or metadata.version(bare)
        except metadata.PackageNotFoundError:
            out.append(name)
            continue
        out.append(f"{name}=={version}")
    return out


def edge_modules(root: Path = SOURCE_ROOT, function: Function = EDGE) -> set[Path]:
    """The files of the function's packages reachable from its handler by import statements."""
    seen: set[str] = set()
    todo = [function.entry, *function.lazy_entries]
    files: set[Path] = set()
    while todo:
        name = todo.pop()
        if name in seen or name.partition(".")[0] not in function.packages:
            continue
        seen.add(name)
        parts = name.split(".")
        for depth in range(1, len(parts)):  # parent packages
            todo.append(".".join(parts[:depth]))
        base = root.joinpath(*parts)
        path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        if not path.is_file():
            continue
        files.add(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join([*anchor, node.module] if node.module else anchor)
                else:
                    module = node.module or ""
                todo.append(module)
                todo += [f"{module}.{alias.name}" for alias in node.names]  # submodules by name
    return files


def bundled_settings(data: dict[str, Any]) -> Settings:
    """The settings a package bundling ``data`` runs with: the file over the defaults.

    Lambda@Edge has no environment, so the builder's ``TACHYON_*`` variables must
    not leak into what is validated or resolved.
    """
    from core.settings import Settings

    class FileOnly(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings,)

    return FileOnly(**data)


def check_config(config: Path) -> None:
    """Validate a config file against ``Settings``: an invalid value or an unknown key is an error.

    At run time an unknown key would be ignored, so a misspelt ``broker_url``
    would silently leave the default in force in every edge location.
    """
    from core.settings import Settings

    try:
        data = tomllib.loads(config.read_text())
        bundled_settings(data)
    except Exception as error:
        raise BuildError(f"{config}: {error}") from error
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        raise BuildError(f"{config}: unknown setting(s) {', '.join(unknown)} (docs/configuration.md)")


def install(
    target: Path,
    *,
    lambda_platform: bool,
    python_version: str,
    extra: tuple[str, ...] = (),
    requirements: tuple[str, ...] = EDGE.requirements,
) -> None:
    """pip-install the pinned requirements (and ``extra`` ones) into ``target``."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(target)]
    command += ["--only-binary=:all:", "--disable-pip-version-check"]
    if lambda_platform:
        for platform in PLATFORMS:
            command += ["--platform", platform]
        command += ["--implementation", "cp", "--python-version", python_version]
    if LOCK.is_file():  # every transitive dependency at the lock's version too
        command += ["--constraint", str(LOCK)]
    command += [*pinned_requirements(requirements), *extra]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BuildError("pip install failed:\n" + (done.stderr or done.stdout)[-3000:])


def prune(target: Path, services: frozenset[str] = EDGE.services) -> None:
    """Remove what the function never loads."""
    for name in UNUSED_TOP_LEVEL:
        shutil.rmtree(target / name, ignore_errors=True)
        for info in target.glob(f"{name.replace('_', '?')}-*.dist-info"):
            shutil.rmtree(info, ignore_errors=True)
    data = target / "botocore" / "data"
    if data.is_dir():
        for service in data.iterdir():
            if service.is_dir() and service.name not in services:
                shutil.rmtree(service)
    for path in sorted(target.rglob("*"), reverse=True):
        generated = path.name == "__pycache__" or path.name.endswith("-stubs")
        tests = path.name in ("tests", "testing") and path.parent != target
        if path.is_dir() and (generated or tests):
            shutil.rmtree(path)
        elif path.is_file() and path.suffix in SOURCE_ONLY:
            path.unlink()


def target_python(python_version: str, explicit: str | None = None) -> str | None:
    """An interpreter of the target version, to compile byte-code with; None if there is none."""
    candidates = [explicit] if explicit else [sys.executable, shutil.which(f"python{python_version}")]
    for candidate in candidates:
        if not candidate:
            continue
        try:
            done = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True, text=True, check=False, timeout=30,
            )  # fmt: skip
        except OSError:
            continue
        if done.returncode == 0 and done.stdout.strip() == python_version:
            return candidate
    if explicit:
        raise BuildError(f"{explicit} is not a Python {python_version} interpreter")
    return None


def build(
    output: Path,
    config: Path | None = None,
    *,
    lambda_platform: bool = True,
    python_version: str = PYTHON_VERSION,
    compile_with: str | None = None,
    extra: tuple[str, ...] = (),
    limit: int = LAMBDA_LIMIT,
    function: Function = EDGE,
) -> Built:
    """Build the deployment zip of ``function`` at ``output``; raises ``BuildError``."""
    if not lambda_platform:
        python_version = "{}.{}".format(*sys.version_info[:2])
    if config is not None:
        check_config(config)
    from edge.config import EdgeConfig

    resolved = EdgeConfig.from_settings(bundled_settings(tomllib.loads(config.read_text()) if config else {}))
    with tempfile.TemporaryDirectory(prefix="tachyon-lambda-") as tmp:
        target = Path(tmp) / "package"
        requirements = requirements_for(function, config)
        install(target, lambda_platform=lambda_platform, python_version=python_version, extra=extra,
                requirements=requirements)  # fmt: skip
        prune(target, function.services)
        for source in edge_modules(function=function):
            destination = target / source.relative_to(SOURCE_ROOT)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
        if config is not None:
            shutil.copyfile(config, target / "core" / "tachyon.toml")
        if "edge" in function.packages:
            (target / "edge" / "settings.json").write_text(resolved.to_json())
        python = target_python(python_version, compile_with)
        if python is not None:
            compile_all = [python, "-m", "compileall", "-q", "-j", "0"]
            compile_all += ["--invalidation-mode", "unchecked-hash", str(target)]
            subprocess.run(compile_all, check=True, capture_output=True)
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(output.name + ".partial")
        files = 0
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            for path in sorted(target.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(target).as_posix())
                    files += 1
    size = partial.stat().st_size
    if size > limit:
        partial.unlink()
        raise BuildError(f"the zip is {size / 1e6:.1f} MB, above Lambda@Edge's {limit / 1e6:.1f} MB")
    partial.replace(output)
    return Built(output, size, files, python is not None)
