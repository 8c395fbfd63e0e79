"""Static checks of the Docker images and compose.yaml (no Docker engine on this machine).

``docker-compose config`` (Debian's ``docker-compose`` package) parses and
validates the compose file without an engine. The rest checks that what the
images and services name exists: COPY sources, the Celery ``-A`` target, the
CLI commands in CMD and HEALTHCHECK, the health URL, the samples folder, and
that the lock pins every runtime dependency.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"
DOCKERFILES = {"worker": ROOT / "docker/worker.Dockerfile", "edge": ROOT / "docker/edge.Dockerfile"}
LOCK = ROOT / "requirements.lock"


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        name, _, args = line.partition(" ")
        out.append((name.upper(), args.strip()))
    return out


def exec_form(args: str) -> list[str]:
    """The argument list of an exec-form CMD/HEALTHCHECK (JSON array)."""
    parsed = json.loads(args)
    assert isinstance(parsed, list), args
    return [str(a) for a in parsed]


@functools.cache
def compose_config(*extra: str) -> dict[str, Any]:
    """The compose file as docker-compose resolves and validates it."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose) — cannot validate")
    result = subprocess.run(
        [binary, "-f", str(COMPOSE), *extra, "config", "--format", "json"]
        if _supports_json(binary)
        else [binary, "-f", str(COMPOSE), *extra, "config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    import yaml  # docker-compose's own dependency; PyYAML is also pulled in by moto

    return dict(yaml.safe_load(result.stdout))


def _supports_json(binary: str) -> bool:
    help_text = subprocess.run([binary, "config", "--help"], capture_output=True, text=True, check=False)
    return "--format" in help_text.stdout


def assert_cli_command(argv: list[str]) -> None:
    """``tachyon-edge <command> [options]`` names a real command and real options."""
    from cli import main

    assert argv[0] == "tachyon-edge"
    command = main.commands.get(argv[1])
    assert command is not None, f"no tachyon-edge command {argv[1]!r}"
    known = {opt for param in command.params for opt in getattr(param, "opts", [])}
    for arg in argv[2:]:
        if arg.startswith("--"):
            assert arg.split("=", 1)[0] in known, f"tachyon-edge {argv[1]} has no option {arg}"


def assert_celery_app(target: str) -> None:
    """``celery -A target`` finds a Celery application, as the celery CLI would."""
    from celery import Celery
    from celery.app.utils import find_app

    assert isinstance(find_app(target), Celery)


def test_compose_file_is_valid_with_every_service() -> None:
    config = compose_config()
    services = config["services"]
    assert {"redis", "minio", "minio-init", "worker", "edge"} <= services.keys()
    assert services.get("flower", {}).get("profiles") == ["flower"], "Flower must be opt-in"
    assert all("profiles" not in services[name] for name in services if name != "flower")
    ports = services["edge"]["ports"]
    assert any(str(p.get("published") if isinstance(p, dict) else p).startswith("8080") for p in ports)
    with_flower = compose_config("--profile", "flower")
    assert "flower" in with_flower["services"]


def test_compose_services_wait_for_the_bucket_and_broker() -> None:
    services = compose_config()["services"]
    for name in ("worker", "edge"):
        depends = services[name]["depends_on"]
        assert depends["minio-init"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
        env = services[name]["environment"]
        assert env["TACHYON_BROKER_URL"].startswith("redis://redis:")
        assert env["TACHYON_S3_ENDPOINT"] == "http://minio:9000"
        assert env["TACHYON_BUCKET"]


def test_compose_services_restart_after_a_crash() -> None:
    """A worker, edge or Redis that dies (OOM kill, an unrecoverable error) comes back by itself."""
    services = compose_config()["services"]
    for name in ("redis", "minio", "worker", "edge"):
        assert services[name].get("restart") in ("unless-stopped", "always", "on-failure"), name


def test_compose_references_exist() -> None:
    services = compose_config("--profile", "flower")["services"]
    for name in ("worker", "edge", "flower"):
        build = services[name]["build"]
        assert (Path(build["context"]) / build["dockerfile"]).is_file()
    init = services["minio-init"]
    sources = [str(v["source"] if isinstance(v, dict) else v.split(":")[0]) for v in init["volumes"]]
    samples = Path(sources[0])
    assert samples.resolve() == (ROOT / "edge/local/samples").resolve()
    assert any(p.suffix == ".jpg" for p in samples.iterdir()), "the samples folder has no images"
    bucket = services["worker"]["environment"]["TACHYON_BUCKET"]
    script = " ".join(init["command"])
    assert f"local/{bucket}" in script, "minio-init must create and fill the bucket the services use"
    assert_cli_command(services["edge"]["command"])
    flower = services["flower"]["command"]
    assert flower[:3] == ["celery", "-A", "worker"]
    assert_celery_app(flower[2])


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_dockerfile_base_user_and_copies(image: str) -> None:
    steps = instructions(DOCKERFILES[image])
    assert steps[0][0] == "FROM"
    assert re.fullmatch(r"python:3\.12(\.\d+)?-slim(-\w+)?", steps[0][1]), steps[0][1]
    users = [args for name, args in steps if name == "USER"]
    assert users, "the image must not run as root"
    assert users[-1] not in ("root", "0")
    for name, args in steps:
        if name == "COPY":
            *sources, _dest = shlex.split(args)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY source {source} is missing"
    installs = " ".join(args for name, args in steps if name == "RUN" and "pip install" in args)
    assert "--constraint requirements.lock" in installs, "dependencies must be installed from the lock"


def test_worker_image_runs_the_supervised_celery_worker_and_checks_its_health() -> None:
    from worker.supervisor import celery_command

    steps = dict(instructions(DOCKERFILES["worker"]))
    cmd = exec_form(steps["CMD"])
    assert cmd[:2] == ["tachyon-edge", "worker"]  # celery -A worker worker, restarted if it exits
    assert_cli_command(cmd[:2])
    assert cmd[cmd.index("-Q") + 1].split(",") == ["derivatives", "batch"]
    celery = celery_command(cmd[2:])
    assert celery[1:6] == ["-m", "celery", "-A", "worker", "worker"]
    assert_celery_app(celery[4])
    health = steps["HEALTHCHECK"]
    assert_cli_command(exec_form(health[health.index("CMD") + 3 :].strip()))


def test_edge_image_serves_the_local_cloudfront_with_a_health_url() -> None:
    from edge.local.cloudfront import HEALTH_PATH

    steps = dict(instructions(DOCKERFILES["edge"]))
    assert_cli_command(exec_form(steps["CMD"]))
    health = exec_form(steps["HEALTHCHECK"][steps["HEALTHCHECK"].index("CMD") + 3 :].strip())
    assert health[:2] == ["python", "-c"]
    assert f"127.0.0.1:8080{HEALTH_PATH}" in health[2]
    compile(health[2], "<healthcheck>", "exec")


def test_lock_pins_every_runtime_dependency() -> None:
    from cli.lock import LAMBDA_ENVIRONMENT, pins

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = pins(LOCK, LAMBDA_ENVIRONMENT)  # the images run CPython 3.12 on Linux
    wanted = [*project["dependencies"], *project["optional-dependencies"]["metrics"], "flower"]
    for requirement in wanted:
        name = canonicalize_name(re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0])
        assert name in locked, f"{name} is a runtime dependency but not pinned in requirements.lock"


def test_operator_commands_in_docs_run_in_a_compose_service() -> None:
    """docs/local.md's ``docker compose exec SERVICE tachyon-edge …`` name a service that exists,
    runs the image with the CLI, and a real command with real options."""
    text = (ROOT / "docs" / "local.md").read_text()
    commands = re.findall(r"^docker compose exec (\S+) (tachyon-edge .+)$", text, re.MULTILINE)
    assert len(commands) >= 4
    services = compose_config()["services"]
    for service, command in commands:
        assert service in services, service
        assert services[service]["image"] == "tachyon-edge-worker"
        assert_cli_command(shlex.split(command))
