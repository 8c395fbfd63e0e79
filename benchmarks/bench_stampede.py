"""A stampede: N concurrent first requests for one small derivative, with and without coalescing.

Each "regional cache" is its own local CloudFront with its own edge (its own
function copies): CloudFront collapses identical requests inside one, not
across them. The requests are spread over ``--regions`` of them and sent at
once. Counted from S3's request log (``tests.s3log``, each answer delayed
``--latency`` s): GETs of the original and PUTs of the derivative made by the
function (one PUT per render), and the viewers' latencies. The lock store is a
``redis-server`` of the run's own (``tests.faults.OwnRedis``).

    python -m benchmarks.bench_stampede [--requests 50] [--regions 1 10] [--quick]

Writes ``docs/benchmarks/stampede.json`` (quoted in docs/edge.md, "Stampede").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from typing import Any

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
QUERY = "w=150"


async def stampede(
    endpoint: str, redis_url: str, requests: int, regions: int, coalesce: bool
) -> dict[str, Any]:
    import boto3
    from aiohttp.test_utils import TestClient, TestServer

    from core.settings import Settings
    from edge.local.cloudfront import LocalCloudFront
    from tests.helpers import noisy_jpeg

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    bucket = f"stampede-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(
        Bucket=bucket, Key="photo.jpg", Body=noisy_jpeg(1200, 800, seed=3), ContentType="image/jpeg"
    )
    settings = Settings(bucket=bucket, s3_endpoint=endpoint, broker_url=redis_url, lock_url=redis_url,
                        coalesce_renders=coalesce)  # fmt: skip
    clients = []
    for _ in range(regions):
        local = LocalCloudFront(settings, on_request=lambda _: None)
        client = TestClient(TestServer(local.app()))
        await client.start_server()
        clients.append(client)
    latencies: list[float] = []
    outcomes: dict[str, int] = {}

    async def one(client: Any) -> None:
        started = time.perf_counter()
        response = await client.get(f"/photo.jpg?{QUERY}")
        await response.read()
        latencies.append(time.perf_counter() - started)
        outcome = f"{response.status} {response.headers.get('x-tachyon', '-')}"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(one(clients[i % regions]) for i in range(requests)))
    wall = time.perf_counter() - started
    for client in clients:
        await client.close()
    return {"bucket": bucket, "latencies": latencies, "outcomes": outcomes, "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--regions", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--latency", type=float, default=0.02, help="seconds S3 waits before each answer")
    parser.add_argument(
        "--quick", action="store_true", help="write under benchmarks/results/ (not committed)"
    )
    args = parser.parse_args()
    os.environ.update(AWS_ENV)
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("tachyon.edge").setLevel(logging.ERROR)
    from tests.faults import OwnRedis
    from tests.s3log import S3Log

    log = S3Log(latency=args.latency)
    redis_server = OwnRedis()
    rows: list[dict[str, Any]] = []
    try:
        for regions in args.regions:
            for coalesce in (False, True):
                log.clear()
                run = asyncio.run(stampede(log.endpoint, redis_server.url, args.requests, regions, coalesce))
                function = [r for r in log.of(run["bucket"]) if r.by_function and "photo.jpg" in r.path]
                derived = [r for r in function if "_derivatives/" in r.path]
                rows.append({
                    "regions": regions,
                    "coalesce": coalesce,
                    "requests": args.requests,
                    "renders": sum(1 for r in derived if r.method == "PUT"),
                    "waiting_heads": sum(1 for r in derived if r.method == "HEAD"),
                    "original_gets": sum(1 for r in function if r.method == "GET" and r not in derived),
                    "s3_requests_by_function": len(function),
                    "median_ms": round(1000 * statistics.median(run["latencies"]), 1),
                    "max_ms": round(1000 * max(run["latencies"]), 1),
                    "wall_s": round(run["wall_s"], 2),
                    "outcomes": run["outcomes"],
                })  # fmt: skip
    finally:
        log.stop()
        redis_server.close()
    print(f"{'regions':>7} {'coalesce':>8} {'renders':>7} {'GETs':>5} {'S3 req':>6} {'median':>8} {'max':>8}")
    for row in rows:
        print(f"{row['regions']:>7} {row['coalesce']!s:>8} {row['renders']:>7} {row['original_gets']:>5} "
              f"{row['s3_requests_by_function']:>6} {row['median_ms']:>6} ms {row['max_ms']:>6} ms  "
              f"{row['outcomes']}")  # fmt: skip
    from benchmarks import record

    note = "shared 2-CPU machine; moto, Redis and every edge on it, the edges in one process"
    record.write("stampede", {"latency_s": args.latency, "query": QUERY, "rows": rows, "note": note},
                 quick=args.quick)  # fmt: skip


if __name__ == "__main__":
    main()
