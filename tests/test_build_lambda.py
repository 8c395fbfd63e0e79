"""The Lambda@Edge zip: built from wheels, unzipped into a clean folder, run with only that on sys.path.

The build downloads wheels (PyPI or the configured index). With a Python 3.12
interpreter on the machine the zip is the real one (manylinux x86_64, 3.12),
run by that interpreter; without one it is built from this interpreter's wheels.
Either way the handler runs in a fresh ``python -I -S`` process whose only
non-stdlib path is the unzipped folder, against the tests' S3 and Redis.
"""

from __future__ import annotations

import glob
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from PIL import Image

from cli.build import build_lambda
from core.jobs import LIVE_QUEUE
from tests.worker_process import ROOT

pytestmark = pytest.mark.slow


def python312() -> str | None:
    """A Python 3.12 interpreter, if this machine has one (PATH or pyenv)."""
    found = [
        shutil.which("python3.12"),
        *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12"))),
    ]
    for candidate in found:
        if not candidate:
            continue
        done = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0 and done.stdout.strip() == "(3, 12)":
            return candidate
    return None


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str, redis_url: str) -> dict[str, Any]:
    """Build the zip once (config pointing at the test S3 and Redis) and unzip it into a clean folder."""
    work = tmp_path_factory.mktemp("lambda")
    config = work / "tachyon.toml"
    lines = ['region = "us-east-1"', f's3_endpoint = "{s3_endpoint}"', f'broker_url = "{redis_url}"']
    config.write_text("\n".join([*lines, "sync_max_bytes = 1000000", "fallback_ttl = 7", ""]))
    interpreter = python312()
    args = ["--config", str(config), "-o", str(work / "dist" / "edge.zip")]
    args += ["--compile-with", interpreter] if interpreter else ["--host-platform"]
    result = CliRunner().invoke(build_lambda, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    zipped = work / "dist" / "edge.zip"
    folder = work / "clean"
    with zipfile.ZipFile(zipped) as archive:
        archive.extractall(folder)
    return {"zip": zipped, "folder": folder, "python": interpreter or sys.executable, "output": result.output}


def test_zip_holds_the_edge_and_its_config_only(package: dict[str, Any]) -> None:
    folder: Path = package["folder"]
    size = package["zip"].stat().st_size
    assert size < 50 * 1024 * 1024
    assert f"{size / 1e6:.1f} MB" in package["output"]
    assert (folder / "edge" / "handler.py").is_file()
    assert (folder / "core" / "processing" / "__init__.py").is_file()
    assert "fallback_ttl = 7" in (folder / "core" / "tachyon.toml").read_text()
    resolved = json.loads((folder / "edge" / "settings.json").read_text())
    assert (resolved["fallback_ttl"], resolved["freshness"]) == (7, "purge")  # the file over the defaults
    for absent in (
        "worker",
        "cli",
        "tests",
        "edge/local",
        "botocore/data/ec2",
        "bin",
        "prompt_toolkit",
    ):
        assert not (folder / absent).exists(), absent
    assert (folder / "botocore" / "data" / "s3").is_dir()


def test_handler_runs_from_the_unzipped_folder_alone(
    package: dict[str, Any], s3_client: Any, bucket: str, fixtures: Path, redis_url: str
) -> None:
    """Only the folder on sys.path: a primary pass loads no botocore, pydantic, Pillow, Celery or
    asyncio; the failover pass renders and enqueues, a single origin hits."""
    s3_client.put_object(Bucket=bucket, Key="small.jpg", Body=(fixtures / "hdr.jpg").read_bytes())
    s3_client.put_object(Bucket=bucket, Key="big.png", Body=(fixtures / "humans.png").read_bytes())
    broker = redis.Redis.from_url(redis_url)
    broker.delete(LIVE_QUEUE)
    events = Path(__file__).parent / "events" / "origin-request-s3.json"
    script = f"""
import copy, json, logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
sys.path.insert(0, {str(package["folder"])!r})
import edge.handler as handler
template = json.load(open({str(events)!r}))
def ask(uri, query, origin=None):
    event = copy.deepcopy(template)
    request = event["Records"][0]["cf"]["request"]
    request.update(uri=uri, querystring=query)
    request["origin"]["s3"]["domainName"] = {bucket + ".s3.us-east-1.amazonaws.com"!r}
    if origin:
        entry = {{"key": "X-Tachyon-Origin", "value": origin}}
        request["origin"]["s3"]["customHeaders"] = {{"x-tachyon-origin": [entry]}}
    return handler.origin_request(event, None)
def heavy():
    names = ("PIL", "celery", "redis", "botocore", "pydantic", "pydantic_settings", "asyncio", "kombu")
    return sorted(m for m in names if m in sys.modules)
loaded = heavy()
primary = ask("/small.jpg", "w=100", "primary")
def respond(request):
    cf = {{"request": request, "response": {{"status": "200", "headers": {{}}}}}}
    return handler.origin_response({{"Records": [{{"cf": cf}}]}}, None)
respond(primary)
after_primary = heavy()
rendered = ask("/small.jpg", "w=100", "failover")
hit = ask("/small.jpg", "w=100")
after_hit = sorted(m for m in ("PIL", "celery") if m in sys.modules)
queued = ask("/big.png", "w=100", "failover")
response = respond(queued)
out = dict(loaded=loaded, primary=primary, after_primary=after_primary, rendered=rendered, hit=hit,
           after_hit=after_hit, queued=queued, response=response)
print(json.dumps(dict(out, paths=sys.path)))
"""
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")} | {"PATH": os.environ.get("PATH", "")}
    done = subprocess.run(
        [package["python"], "-I", "-S", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["loaded"] == []  # importing the handler loads none of them
    assert out["after_primary"] == [], "a primary pass (and origin-response) needs none of them"
    assert not any("site-packages" in p for p in out["paths"])

    def outcome(response: dict[str, Any]) -> str:
        return str(response["headers"]["x-tachyon-outcome"][0]["value"])

    assert outcome(out["primary"]) == "hit"
    assert out["primary"]["querystring"] == ""
    assert outcome(out["rendered"]) == "rendered"
    assert out["rendered"]["uri"] == out["primary"]["uri"], "the primary pass named the key the render wrote"
    key = out["rendered"]["uri"].lstrip("/")
    image = Image.open(io.BytesIO(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()))
    assert image.size == (100, 50)
    assert (outcome(out["hit"]), out["hit"]["uri"]) == ("hit", out["rendered"]["uri"])
    assert out["after_hit"] == ["PIL"]  # rendering loaded Pillow; nothing loaded Celery yet

    assert (outcome(out["queued"]), out["queued"]["uri"]) == ("queued", "/big.png"), done.stderr[-3000:]
    assert broker.llen(LIVE_QUEUE) == 1
    assert (
        out["response"]["headers"]["cache-control"][0]["value"] == "public, max-age=7"
    )  # the bundled config


def test_an_unknown_key_in_the_config_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    config = tmp_path / "tachyon.toml"
    config.write_text('brokr_url = "sqs://"\nfallback_ttl = 7\n')
    result = CliRunner().invoke(build_lambda, ["--config", str(config), "-o", str(tmp_path / "edge.zip")])
    assert result.exit_code == 1
    assert "unknown setting(s) brokr_url" in result.output
    assert not (tmp_path / "edge.zip").exists()


def test_the_purge_function_holds_its_handler_and_core_only() -> None:
    from cli.lambda_zip import PURGE, edge_modules

    names = {path.relative_to(ROOT).as_posix() for path in edge_modules(function=PURGE)}
    assert {"purger/handler.py", "purger/cdn.py", "core/changes.py", "core/settings.py"} <= names
    assert not {name for name in names if name.startswith(("edge/", "worker/", "cli/"))}
    assert "pillow" not in PURGE.requirements  # core.processing is reachable, never loaded


@pytest.fixture(scope="module")
def sqs_package(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str, endpoints: Any) -> dict[str, Any]:
    """The edge zip for an SQS deployment: queue URLs and the job table bundled, no Redis anywhere."""
    from tests.aws import Stack

    stack = Stack(endpoints)
    work = tmp_path_factory.mktemp("lambda-sqs")
    config = work / "tachyon.toml"
    config.write_text(
        "\n".join([
            'region = "us-east-1"', f's3_endpoint = "{s3_endpoint}"', 'broker_url = "sqs://"',
            f'job_table = "{stack.table}"', "sync_max_bytes = 1000000",
            "[queue_urls]", f'derivatives = "{stack.urls["derivatives"]}"', "",
        ])
    )  # fmt: skip
    interpreter = python312()
    args = ["--config", str(config), "-o", str(work / "edge.zip")]
    args += ["--compile-with", interpreter] if interpreter else ["--host-platform"]
    result = CliRunner().invoke(build_lambda, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    folder = work / "clean"
    with zipfile.ZipFile(work / "edge.zip") as archive:
        archive.extractall(folder)
    return {
        "folder": folder,
        "python": interpreter or sys.executable,
        "stack": stack,
        "zip": work / "edge.zip",
    }


def test_an_sqs_edge_zip_has_no_celery_redis_or_secret_and_enqueues_from_a_far_region(
    sqs_package: dict[str, Any], s3_client: Any, bucket: str, fixtures: Path, endpoints: Any
) -> None:
    folder: Path = sqs_package["folder"]
    stack = sqs_package["stack"]
    for absent in ("celery", "kombu", "redis", "billiard"):
        assert not (folder / absent).exists(), absent
    assert (folder / "botocore" / "data" / "dynamodb").is_dir()
    assert "password" not in (folder / "core" / "tachyon.toml").read_text()
    s3_client.put_object(Bucket=bucket, Key="big.png", Body=(fixtures / "humans.png").read_bytes())
    events = Path(__file__).parent / "events" / "origin-request-s3.json"
    script = f"""
import json, sys
sys.path.insert(0, {str(folder)!r})
import edge.handler as handler
event = json.load(open({str(events)!r}))
request = event["Records"][0]["cf"]["request"]
request.update(uri="/big.png", querystring="w=100")
request["origin"]["s3"]["domainName"] = {bucket + ".s3.us-east-1.amazonaws.com"!r}
queued = handler.origin_request(event, None)
loaded = sorted(m for m in ("celery", "kombu", "redis") if m in sys.modules)
print(json.dumps(dict(queued=queued, loaded=loaded)))
"""
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")} | endpoints.env()
    env |= {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "ap-southeast-2",
        "AWS_DEFAULT_REGION": "ap-southeast-2",
    }
    command = [sqs_package["python"], "-I", "-S", "-c", script]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["queued"]["headers"]["x-tachyon-outcome"][0]["value"] == "queued", done.stderr[-2000:]
    assert out["loaded"] == []
    assert stack.depth("derivatives") == (1, 0)
    (claim,) = stack.job_items()
    assert claim["pk"]["S"].startswith("job:")


def test_a_zip_without_byte_code_says_so_and_what_it_costs(tmp_path: Path) -> None:
    """With no Python 3.12 on PATH (and this interpreter another version), nothing can compile."""
    if sys.version_info[:2] == (3, 12):
        pytest.skip("this interpreter is Python 3.12: it always compiles")
    path = os.pathsep.join(
        d for d in os.environ.get("PATH", "").split(os.pathsep) if not (Path(d) / "python3.12").exists()
    )
    done = subprocess.run(
        [sys.executable, "-c", "from cli import main; main()", "build-lambda", "-o", str(tmp_path / "e.zip")],
        capture_output=True, text=True, timeout=600, check=False, env={**os.environ, "PATH": path},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "without byte-code" in done.stdout
    (warning,) = [line for line in done.stderr.splitlines() if line.startswith("warning: no byte-code")]
    assert "--compile-with" in warning
    assert re.search(r"about \d+(\.\d+)? s more before the first hit", warning), warning
    with zipfile.ZipFile(tmp_path / "e.zip") as archive:
        assert not any(name.endswith(".pyc") for name in archive.namelist())


def test_the_zip_holds_the_versions_the_tests_run(package: dict[str, Any]) -> None:
    """Every distribution in the zip is at the version installed here (both come from the lock)."""
    from importlib import metadata

    folder: Path = package["folder"]
    bundled = {}
    for info in folder.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
        bundled[name.lower().replace("_", "-")] = version
    assert {"pillow", "botocore", "celery", "kombu", "pydantic", "redis"} <= set(bundled)
    for name, version in bundled.items():
        assert metadata.version(name) == version, name
