"""The one set of pinned versions: ``requirements.lock`` at the repository root.

``scripts/lock`` writes it with uv (``uv pip compile`` from the virtualenv
``scripts/test`` makes): every dependency of every extra, pinned, resolved for
Python 3.11 and later on any platform, then stamped with the digest of
pyproject's dependency tables so a stale lock is noticed (``tests/test_lock.py``).
``scripts/test``, ``scripts/dev``, both Docker images and ``build-lambda`` all
install with ``--constraint requirements.lock``: tests, images and the Lambda
zip get the same versions. ``python -m cli.lock stamp`` is the stamping step.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path
from typing import cast

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"
STAMP = "# pyproject dependencies sha256: "
#: The Lambda runtime (and the images): CPython 3.12 on Linux x86_64.
LAMBDA_ENVIRONMENT = {
    "python_version": "3.12", "python_full_version": "3.12.0", "sys_platform": "linux",
    "platform_system": "Linux", "os_name": "posix", "platform_machine": "x86_64",
    "implementation_name": "cpython", "platform_python_implementation": "CPython",
}  # fmt: skip


def dependency_digest(pyproject: Path = PYPROJECT) -> str:
    """sha256 of what the lock is made from: requires-python, dependencies and every extra."""
    project = tomllib.loads(pyproject.read_text())["project"]
    tables = {
        name: project.get(name) for name in ("requires-python", "dependencies", "optional-dependencies")
    }
    return hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()


def stamped_digest(lock: Path = LOCK) -> str | None:
    """The digest the lock was made from, or None when it carries none."""
    for line in lock.read_text().splitlines():
        if line.startswith(STAMP):
            return line.removeprefix(STAMP).strip()
    return None


def stamp(lock: Path = LOCK, pyproject: Path = PYPROJECT) -> None:
    """Write pyproject's current digest into the lock's header."""
    lines = [line for line in lock.read_text().splitlines() if not line.startswith(STAMP)]
    lock.write_text("\n".join([f"{STAMP}{dependency_digest(pyproject)}", *lines]) + "\n")


def pins(lock: Path = LOCK, environment: dict[str, str] | None = None) -> dict[str, str]:
    """name → version of every lock line whose marker holds in ``environment`` (default: here)."""
    env: dict[str, str] = {**cast("dict[str, str]", default_environment()), **(environment or {})}
    out: dict[str, str] = {}
    for raw in lock.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({**env, "extra": ""}):
            continue
        (spec,) = requirement.specifier  # every line is name==version
        out[canonicalize_name(requirement.name)] = spec.version
    return out


def main(argv: list[str]) -> None:
    if argv != ["stamp"]:
        sys.exit("usage: python -m cli.lock stamp   (scripts/lock runs it)")
    stamp()
    digest = dependency_digest()[:12]
    print(f"{LOCK.name}: {len(pins())} pins for this interpreter, made from pyproject {digest}")


if __name__ == "__main__":
    main(sys.argv[1:])
