"""Edge function benchmark: cold import, handler time on a hit (S3 excluded), hit throughput.

Run: ``.venv/bin/python benchmarks/bench_edge.py [--runs 7] [--hits 300]``

- Cold import: a fresh interpreter per run, timing ``import edge.handler`` in the
  process (interpreter start-up excluded), beside ``import boto3;
  boto3.client("s3")`` measured the same way and interleaved with it, so machine
  load hits both alike. Also "ready": the import plus making the edge's S3 client,
  and boto3 with the CA certificates loaded (aiohttp, under aiobotocore, loads
  them at import; botocore only on its first HTTPS connection).
  Target: import ≤ 1.3× the boto3 baseline.
- Hit: the Lambda entry point ``origin_request(event, None)`` against moto's S3
  server over HTTP. Each invocation's wall time minus the S3 calls it made (its
  own ``s3_*`` step timings from the log line) is the handler's own time.
  Target ≤ 2 ms.
- Throughput on the hit path: sequential (one Lambda container) and 32 concurrent
  awaits of one ``Edge`` (the local CloudFront), both bounded by moto's speed.

Prints a table and writes ``docs/benchmarks/edge.json`` (see ``benchmarks/record.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import io
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder comes first on sys.path and its name would hide the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))
EVENT = ROOT / "tests" / "events" / "origin-request-s3.json"

IMPORTS = {
    "edge.handler import": "import edge.handler",
    "edge.handler import + S3 client": (
        "import edge.handler as h; h._loop.run_until_complete(h._Container.edge.storage.client())"
    ),
    "boto3 import + client": "import boto3; boto3.client('s3', region_name='us-east-1')",
    # aiohttp loads the CA certificates when imported; botocore on its first HTTPS connection:
    "boto3 import + client + CA certificates": (
        "import boto3, ssl; from botocore.httpsession import DEFAULT_CA_BUNDLE; "
        "boto3.client('s3', region_name='us-east-1'); ssl.create_default_context(cafile=DEFAULT_CA_BUNDLE)"
    ),
}


def cold(statement: str) -> float:
    """Seconds ``statement`` takes in a fresh interpreter (start-up excluded)."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = dict(os.environ, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")
    env.pop("TACHYON_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=ROOT
    )
    return float(done.stdout.strip().splitlines()[-1])


def cold_imports(runs: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in IMPORTS}
    for _ in range(runs):  # interleaved, so load changes touch every row alike
        for name, statement in IMPORTS.items():
            samples[name].append(cold(statement))
    return {name: statistics.median(values) for name, values in samples.items()}


class Collect(logging.Handler):
    """Keeps the edge's per-invocation log records (their ``tachyon`` fields)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(getattr(record, "tachyon", {}))


def seed(endpoint: str) -> dict[str, Any]:
    """A bucket with one photo; returns an origin-request event for a derivative of it."""
    import boto3
    from PIL import Image

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="bench")
    picture = io.BytesIO()
    Image.new("RGB", (800, 600), "teal").save(picture, format="JPEG")
    s3.put_object(Bucket="bench", Key="uploads/photo.jpg", Body=picture.getvalue())
    template: dict[str, Any] = json.loads(EVENT.read_text())
    request = template["Records"][0]["cf"]["request"]
    request.update(uri="/uploads/photo.jpg", querystring="resize=150%2C150")
    request["origin"]["s3"]["domainName"] = "bench.s3.us-east-1.amazonaws.com"
    return template


def sequential_hits(template: dict[str, Any], hits: int, collect: Collect) -> dict[str, float]:
    """Hits through the Lambda entry point, one at a time; own time = wall − S3 steps."""
    from edge import handler

    first = handler.origin_request(copy.deepcopy(template), None)
    assert first["headers"]["x-tachyon-outcome"][0]["value"] == "rendered", first
    events = [copy.deepcopy(template) for _ in range(hits)]
    own: list[float] = []
    s3_ms: list[float] = []
    began = time.perf_counter()
    for event in events:
        start = time.perf_counter()
        result = handler.origin_request(event, None)
        wall = (time.perf_counter() - start) * 1000
        record = collect.records[-1]
        assert record["outcome"] == "hit" and result["querystring"] == "", record
        s3 = sum(v for k, v in record["ms"].items() if k.startswith("s3_"))
        own.append(wall - s3)
        s3_ms.append(s3)
    return {
        "handler_ms_excl_s3_median": statistics.median(own),
        "handler_ms_excl_s3_p95": sorted(own)[int(0.95 * len(own)) - 1],
        "s3_ms_median": statistics.median(s3_ms),
        "hits_per_s_sequential": hits / (time.perf_counter() - began),
    }


async def concurrent_hits(settings: Any, template: dict[str, Any], hits: int) -> float:
    """Hits per second with 32 concurrent awaits of one Edge (as the local CloudFront runs it)."""
    from edge.flow import Edge

    edge = Edge(settings)
    batch = [copy.deepcopy(template) for _ in range(hits)]
    semaphore = asyncio.Semaphore(32)

    async def one(event: dict[str, Any]) -> None:
        async with semaphore:
            await edge.origin_request(event)

    await edge.origin_request(copy.deepcopy(template))  # client made before timing
    start = time.perf_counter()
    await asyncio.gather(*(one(e) for e in batch))
    elapsed = time.perf_counter() - start
    await edge.close()
    return hits / elapsed


def hit_path(hits: int) -> dict[str, float]:
    """Time hits against moto's S3 server over HTTP."""
    os.environ.update(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")
    from moto.server import ThreadedMotoServer

    from core.settings import Settings
    from edge import handler

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    log = logging.getLogger("tachyon.edge")
    collect = Collect()
    log.addHandler(collect)
    log.propagate = False
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        template = seed(endpoint)
        settings = Settings(s3_endpoint=endpoint, broker_url="memory://")
        handler.configure(settings)
        results = sequential_hits(template, hits, collect)
        results["hits_per_s_concurrent32"] = asyncio.run(concurrent_hits(settings, template, hits))
        return results
    finally:
        edge = handler._Container.edge
        if edge is not None:
            handler._loop.run_until_complete(edge.close())
        log.removeHandler(collect)
        server.stop()


def zip_imports(zipped: Path, runs: int) -> dict[str, float] | None:
    """Import time of the handler from the unzipped package, with and without its byte-code.

    Run by a Python of the zip's version (python3.12 on PATH), with only the
    package on sys.path. Lambda's code directory is read-only, so without
    bundled .pyc files every cold start compiles every module.
    """
    import shutil
    import tempfile
    import zipfile

    python = shutil.which("python3.12")
    if python is None or subprocess.run([python, "-V"], capture_output=True, check=False).returncode != 0:
        return None
    code = "import sys, time; sys.path.insert(0, {!r}); t = time.perf_counter(); import edge.handler; "
    code += "print(time.perf_counter() - t)"
    out: dict[str, list[float]] = {"with .pyc": [], "without .pyc": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "package"
        with zipfile.ZipFile(zipped) as archive:
            archive.extractall(folder)
        bare = Path(tmp) / "bare"
        shutil.copytree(folder, bare, ignore=shutil.ignore_patterns("__pycache__"))
        for _ in range(runs):
            for name, where, flags in (("with .pyc", folder, []), ("without .pyc", bare, ["-B"])):
                done = subprocess.run(
                    [python, "-I", "-S", *flags, "-c", code.format(str(where))],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                out[name].append(float(done.stdout.strip().splitlines()[-1]))
    return {name: statistics.median(values) for name, values in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per import measurement")
    parser.add_argument("--hits", type=int, default=300, help="hit invocations to time")
    args = parser.parse_args()

    imports = cold_imports(args.runs)
    baseline = imports["boto3 import + client"]
    hits = hit_path(args.hits)
    zipped = ROOT / "dist" / "edge.zip"
    results: dict[str, Any] = {
        "cold_import_s": imports,
        "import_ratio_vs_boto3": imports["edge.handler import"] / baseline,
        "ready_ratio_vs_boto3": imports["edge.handler import + S3 client"] / baseline,
        "ready_ratio_vs_boto3_with_certificates": imports["edge.handler import + S3 client"]
        / imports["boto3 import + client + CA certificates"],
        "hit": hits,
        "zip_bytes": zipped.stat().st_size if zipped.is_file() else None,
        "zip_import_s": zip_imports(zipped, args.runs) if zipped.is_file() else None,
        "runs": args.runs,
        "python": sys.version.split()[0],
    }

    rows = [
        (f"cold: {name} (median of {args.runs})", f"{value * 1000:.0f} ms") for name, value in imports.items()
    ]
    rows += [
        ("cold import ratio vs boto3 (target ≤ 1.3)", f"{results['import_ratio_vs_boto3']:.2f}×"),
        ("cold import + client ratio vs boto3", f"{results['ready_ratio_vs_boto3']:.2f}×"),
        (
            "cold import + client ratio vs boto3 + certificates",
            f"{results['ready_ratio_vs_boto3_with_certificates']:.2f}×",
        ),
        ("hit: handler time excl. S3, median (target ≤ 2)", f"{hits['handler_ms_excl_s3_median']:.2f} ms"),
        ("hit: handler time excl. S3, p95", f"{hits['handler_ms_excl_s3_p95']:.2f} ms"),
        ("hit: S3 HEADs (moto over HTTP), median", f"{hits['s3_ms_median']:.2f} ms"),
        ("hit: invocations/s, sequential (one container)", f"{hits['hits_per_s_sequential']:.0f}"),
        ("hit: invocations/s, 32 concurrent on one Edge", f"{hits['hits_per_s_concurrent32']:.0f}"),
    ]
    if results["zip_bytes"]:
        rows.append(("dist/edge.zip", f"{results['zip_bytes'] / 1e6:.1f} MB"))
    for name, value in (results["zip_import_s"] or {}).items():
        rows.append((f"cold import from the zip, Python 3.12, {name}", f"{value * 1000:.0f} ms"))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>10}")
    from benchmarks import record

    record.write("edge", results)


if __name__ == "__main__":
    main()
