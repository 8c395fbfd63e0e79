"""The Docker images without a Docker engine: hadolint on each Dockerfile, and the worker image's
own install steps run in a clean virtualenv, so the image installs what the tests ran.

The worker image (docker/worker.Dockerfile) installs in two RUN steps: the dependencies from the
project's metadata at the lock's versions, then the project itself with ``--no-deps`` and
``pip check``. ``test_worker_image_installs_from_the_lock`` runs exactly those RUN lines (read
from the Dockerfile) in a fresh virtualenv laid out as the image's /app, then the commands the
image's CMD and HEALTHCHECK name. A dependency the lock lacks, a version conflict or a console
script gone would fail there as it would fail ``docker build``. What it cannot see: the base
image's own packages (python:3.12-slim; the venv uses this machine's Python, 3.12 when present).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_compose import DOCKERFILES, instructions

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_hadolint_is_clean(image: str) -> None:
    """No hadolint finding at any level (info included) in either Dockerfile."""
    done = subprocess.run(
        [str(BIN / "hadolint"), "--failure-threshold", "info", str(DOCKERFILES[image])],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def image_python() -> str:
    """Python 3.12, the image's, when this machine has one; else this interpreter."""
    for candidate in (shutil.which("python3.12"), sys.executable):
        if (
            candidate
            and subprocess.run([candidate, "--version"], capture_output=True, check=False).returncode == 0
        ):
            return candidate
    return sys.executable


@pytest.mark.slow
def test_worker_image_installs_from_the_lock(tmp_path: Path) -> None:
    steps = instructions(DOCKERFILES["worker"])
    app = tmp_path / "app"
    app.mkdir()
    venv = tmp_path / "venv"
    subprocess.run([image_python(), "-m", "venv", str(venv)], check=True)
    # the image's ENV, except PIP_NO_CACHE_DIR: pip's cache only saves downloads here
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "VIRTUAL_ENV": str(venv),
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
    ran = 0
    for name, args in steps:
        if name == "COPY":  # COPY a b ./  or  COPY core core
            *sources, destination = args.split()
            for source in sources:
                target = app / Path(source).name if destination in (".", "./") else app / destination
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy2(ROOT / source, target)
        elif name == "RUN" and "pip" in args:
            done = subprocess.run(
                ["sh", "-c", args], cwd=app, env=env, capture_output=True, text=True, check=False
            )
            assert done.returncode == 0, f"RUN {args}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
            ran += 1
    assert ran == 2
    cmd = json.loads(next(args for name, args in steps if name == "CMD"))
    check = json.loads(next(args for name, args in steps if name == "HEALTHCHECK").split("CMD", 1)[1])
    # tachyon-edge worker ARGS runs celery -A worker worker ARGS: its --help is Celery's worker help
    assert cmd[:2] == ["tachyon-edge", "worker"]
    for argv in ([*cmd[:2], "--help"], [*check, "--help"]):
        done = subprocess.run([str(venv / "bin" / argv[0]), *argv[1:]], cwd=app, env=env,
                              capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
        assert done.returncode == 0, f"{argv}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    freeze = subprocess.run(
        [str(venv / "bin" / "pip"), "freeze"], env=env, capture_output=True, text=True, check=True
    )
    pins = {
        line.split("==")[0].lower(): line.split("==")[1]
        for line in freeze.stdout.splitlines()
        if "==" in line
    }
    lock = (ROOT / "requirements.lock").read_text()
    for name in ("celery", "kombu", "boto3", "pillow", "pycurl", "pydantic"):
        assert f"\n{name}=={pins[name]}" in "\n" + lock.lower(), name
