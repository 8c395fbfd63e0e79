"""A WordPress page's srcset on a fresh upload: S3 reads, decodes and CPU, without and with a size set.

Plain script (no pytest): prints a table and writes ``docs/benchmarks/srcset.json``
(``benchmarks/results/srcset.json`` with ``--quick``; see ``benchmarks/record.py``).

    .venv/bin/python benchmarks/bench_srcset.py [--rounds 3]

A seeded 12-megapixel camera-like JPEG is uploaded under a new key, then the six
URLs of its WordPress ``srcset`` (core.sizesets.WORDPRESS) are asked one after
the other through the local CloudFront (origin group, the real edge), as the
devices and viewports of a site's visitors do over time; each is a CloudFront
miss. Two sides, in interleaved rounds:

- before: no size set: each miss reads the original and decodes it;
- after: ``size_set`` = the WordPress sizes: the first miss renders all six.

Counted: S3 GETs of the original (at the S3 server, ``tests.s3log``), decodes (edge
invocations that rendered), the CPU time of the process running the edge and the
local CloudFront (``time.process_time`` over the six requests; S3 runs in the
bench's own process, so it is not counted), and the viewer's time per request.
"""

from __future__ import annotations

import argparse
import asyncio
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

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

from benchmarks import record  # noqa: E402
from core.sizesets import WORDPRESS  # noqa: E402

AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
SIDES = ("before", "after")


def child(endpoint: str, bucket: str, key: str, side: str) -> None:
    """One side: the six srcset URLs through this process's local CloudFront; prints JSON."""
    records: list[dict[str, Any]] = []

    class Keep(logging.Handler):
        def emit(self, entry: logging.LogRecord) -> None:
            records.append(getattr(entry, "tachyon", {}))

    edge_log = logging.getLogger("tachyon.edge")
    edge_log.addHandler(Keep())
    edge_log.propagate = False
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    print(json.dumps(asyncio.run(_srcset(endpoint, bucket, key, side, records))))


async def _srcset(
    endpoint: str, bucket: str, key: str, side: str, records: list[dict[str, Any]]
) -> dict[str, Any]:
    from aiohttp.test_utils import TestClient, TestServer

    from core.settings import Settings
    from edge.local.cloudfront import LocalCloudFront

    size_set = WORDPRESS if side == "after" else ()
    settings = Settings(bucket=bucket, s3_endpoint=endpoint, broker_url="memory://", size_set=size_set)
    local = LocalCloudFront(settings)
    requests = []
    async with TestClient(TestServer(local.app())) as client:
        warm = await client.get("/nothing.jpg?w=1")  # the edge's S3 client and imports, before timing
        await warm.read()
        records.clear()
        cpu = time.process_time()
        for query in WORDPRESS:
            began = time.perf_counter()
            response = await client.get(f"/{key}?{query}")
            body = await response.read()
            requests.append({"query": query, "status": response.status, "bytes": len(body),
                             "outcome": response.headers.get("x-tachyon"),
                             "ms": round((time.perf_counter() - began) * 1000, 1)})  # fmt: skip
        cpu_ms = (time.process_time() - cpu) * 1000
    decodes = sum(1 for r in records if "render" in (r.get("ms") or r.get("steps") or {}))
    return {"cpu_ms": round(cpu_ms, 1), "decodes": decodes, "requests": requests}


def run_side(endpoint: str, bucket: str, key: str, side: str) -> dict[str, Any]:
    env = {**os.environ, **AWS_ENV, "PYTHONPATH": str(ROOT)}
    env = {k: v for k, v in env.items() if not k.startswith("TACHYON_")}
    command = [sys.executable, __file__, "--child", endpoint, bucket, key, side]
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env, timeout=600)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def upload(s3: Any, bucket: str, key: str) -> None:
    from benchmarks.bench_render import photo

    out = io.BytesIO()
    photo(4000, 3000, seed=12).save(out, "JPEG", quality=90)
    s3.put_object(Bucket=bucket, Key=key, Body=out.getvalue(), ContentType="image/jpeg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one round (not committed)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    os.environ.update(AWS_ENV)
    import boto3

    from tests.s3log import S3Log

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    log = S3Log()
    s3 = boto3.client("s3", endpoint_url=log.endpoint, region_name="us-east-1")
    bucket = "bench-srcset"
    s3.create_bucket(Bucket=bucket)
    found: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    try:
        for round_ in range(1 if args.quick else args.rounds):
            for side in SIDES:
                key = f"uploads/2026/12/photo-{side}-{round_}.jpg"
                upload(s3, bucket, key)
                log.clear()
                result = run_side(log.endpoint, bucket, key, side)
                result["original_gets"] = sum(
                    1 for r in log.of(bucket) if r.method == "GET" and r.path.endswith(key) and r.by_function
                )
                found[side].append(result)
    finally:
        log.stop()
    summary = {
        side: {
            "original_gets": statistics.median(r["original_gets"] for r in runs),
            "decodes": statistics.median(r["decodes"] for r in runs),
            "cpu_ms": round(statistics.median(r["cpu_ms"] for r in runs), 1),
            "outcomes": [q["outcome"] for q in runs[-1]["requests"]],
            "first_request_ms": statistics.median(r["requests"][0]["ms"] for r in runs),
            "later_requests_ms": statistics.median(q["ms"] for r in runs for q in r["requests"][1:]),
        }
        for side, runs in found.items()
    }
    print(f"{'side':8} {'GETs':>5} {'decodes':>8} {'CPU ms':>8} {'1st ms':>8} {'later ms':>9}  outcomes")
    for side, s in summary.items():
        line = (
            f"{side:8} {s['original_gets']:>5} {s['decodes']:>8} {s['cpu_ms']:>8} {s['first_request_ms']:>8}"
        )
        print(f"{line} {s['later_requests_ms']:>9}  {' '.join(map(str, s['outcomes']))}")
    meta = {"source": "seeded 4000×3000 JPEG q90", "srcset": list(WORDPRESS), "rounds": len(found["before"]),
            "note": "CPU of the process running the edge and the local CloudFront; S3 (moto) runs elsewhere. "
                    "Machine shared with other work (see load_average)."}  # fmt: skip
    record.write("srcset", {"meta": meta, "summary": summary, "runs": found}, quick=args.quick)


if __name__ == "__main__":
    main()
