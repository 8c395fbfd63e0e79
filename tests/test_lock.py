"""One set of pinned versions (``requirements.lock``) for the tests, the Docker images and the Lambda zip.

The lock is made from pyproject.toml by ``scripts/lock``; these tests fail when
it is out of date (pyproject's dependencies changed since), when it misses a
requirement, when the tests do not run at its versions, or when the images would
install anything else. The last one asks pip (``--dry-run``) to resolve the
images' dependency layer exactly as their Dockerfiles do, from the project's
metadata alone, and also checks that building that metadata prints no
deprecation banner.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from cli.lock import LOCK, dependency_digest, pins, stamped_digest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
REGENERATE = "the lock is out of date with pyproject.toml: run scripts/lock and commit requirements.lock"


def test_the_lock_is_made_from_pyproject_as_it_is() -> None:
    assert LOCK.is_file(), REGENERATE
    assert stamped_digest() == dependency_digest(), REGENERATE


def test_every_requirement_of_every_extra_is_pinned_within_its_range() -> None:
    locked = pins()
    requirements = [
        *PROJECT["dependencies"],
        *(r for extra in PROJECT["optional-dependencies"].values() for r in extra),
    ]
    for line in requirements:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        if name == "tachyon-edge" or (requirement.marker and not requirement.marker.evaluate()):
            continue
        assert name in locked, f"{name}: {REGENERATE}"
        assert requirement.specifier.contains(locked[name], prereleases=True), f"{line}: {REGENERATE}"


def test_the_tests_run_at_the_locked_versions() -> None:
    installed: dict[str, str] = {
        canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()
    }
    wrong = {
        name: (version, installed[name])
        for name, version in pins().items()
        if installed.get(name, version) != version
    }
    assert wrong == {}, "installed versions differ from the lock (scripts/test installs with --constraint)"


def test_every_installer_uses_the_lock() -> None:
    for script in ("scripts/test", "scripts/dev"):
        lines = (ROOT / script).read_text().splitlines()
        installs = [line for line in lines if "pip install" in line and " -e " in line]
        assert installs and all("--constraint requirements.lock" in line for line in installs), script
    for dockerfile in (ROOT / "docker").glob("*.Dockerfile"):
        runs = " ".join(dockerfile.read_text().split("\\\n"))
        installs = re.findall(r"pip install [^&\n]*", runs)
        assert installs and all("--constraint requirements.lock" in i for i in installs), dockerfile.name
    assert not (ROOT / "docker" / "constraints.txt").exists(), "one lock only"


@pytest.mark.slow
def test_the_images_install_exactly_what_the_tests_run(tmp_path: Path) -> None:
    """The Dockerfiles' dependency layer, resolved by pip here: the versions installed in this venv."""
    for name in ("pyproject.toml", "README.md", "requirements.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    for package in ("core", "edge", "worker", "cli", "purger"):
        (tmp_path / package).mkdir()
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report",
         str(report), "--constraint", "requirements.lock", ".[metrics,flower,sqs,viewer]"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "deprecat" not in done.stderr.lower(), done.stderr[-3000:]
    chosen: dict[str, str] = {
        canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    chosen.pop("tachyon-edge")
    locked = pins()
    assert {name: v for name, v in chosen.items() if locked.get(name) != v} == {}
    installed: dict[str, str] = {
        canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()
    }
    differ = {
        name: (v, installed[name]) for name, v in chosen.items() if name in installed and installed[name] != v
    }
    assert differ == {}, "the images would install other versions than the tests run"
