"""One side of ``bench_edge.py``'s before/after comparison, run inside the tree under test.

``bench_edge.py`` runs this script with ``PYTHONPATH`` set to a tree (the current
one, or a reference commit unpacked elsewhere), so it uses only what both have:
``core.settings.Settings``, ``edge.local.cloudfront.LocalCloudFront`` and the
Lambda entry points of ``edge.handler``. The S3 endpoint is the bench's, which
logs every request; this side reports when each miss started and ended, so the
bench can tell which requests each miss caused. Prints one JSON object.

- ``cloudfront``: misses through the tree's local CloudFront (cache emptied
  before each), on existing derivatives, new ones, a large original or a
  missing one; the viewer's time per miss.
- ``cpu``: the Lambda entry point ``origin_request`` called directly on an
  existing derivative; CPU time of this process per call.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

EVENT = Path(__file__).resolve().parents[1] / "tests" / "events" / "origin-request-s3.json"


def settings_for(args: argparse.Namespace) -> Any:
    from core.settings import Settings

    extra = {"freshness": args.freshness} if args.freshness else {}  # a tree without it ignores it
    return Settings(
        bucket=args.bucket,
        s3_endpoint=args.endpoint,
        broker_url="memory://",
        sync_max_bytes=args.sync_max_bytes,
        **extra,
    )


def quiet() -> None:
    """One log line per invocation still written (as to CloudWatch), to /dev/null."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    edge_log = logging.getLogger("tachyon.edge")
    edge_log.addHandler(logging.StreamHandler(open(os.devnull, "w")))  # noqa: SIM115 — for the process's life
    edge_log.propagate = False


async def cloudfront(args: argparse.Namespace) -> dict[str, Any]:
    from aiohttp.test_utils import TestClient, TestServer
    from yarl import URL

    from edge.local.cloudfront import LocalCloudFront

    options: dict[str, Any] = {}
    if args.origins == "single":
        from edge.local.origins import single_origin

        options["origins"] = single_origin(args.bucket, "us-east-1")
    local = LocalCloudFront(settings_for(args), on_request=lambda _: None, **options)
    misses = []
    async with TestClient(TestServer(local.app())) as client:
        base = str(client.make_url("/")).rstrip("/")
        for target in args.warm:
            await (await client.session.get(URL(base + target, encoded=True))).read()
        for target in args.targets:
            local.cache.clear()
            started = time.perf_counter()
            response = await client.session.get(URL(base + target, encoded=True))
            await response.read()
            ended = time.perf_counter()
            misses.append({
                "target": target, "status": response.status, "outcome": response.headers.get("X-Tachyon"),
                "started": started, "ended": ended,
            })  # fmt: skip
    return {"misses": misses}


def cpu(args: argparse.Namespace) -> dict[str, Any]:
    from edge import handler

    template = json.loads(EVENT.read_text())
    request = template["Records"][0]["cf"]["request"]
    request.update(uri=args.targets[0].partition("?")[0], querystring=args.targets[0].partition("?")[2])
    request["origin"]["s3"]["domainName"] = f"{args.bucket}.s3.us-east-1.amazonaws.com"
    if args.origins == "primary":
        entry = [{"key": "X-Tachyon-Origin", "value": "primary"}]
        request["origin"]["s3"]["customHeaders"] = {"x-tachyon-origin": entry}
    handler.configure(settings_for(args))
    events = [copy.deepcopy(template) for _ in range(args.calls + 1)]
    first = handler.origin_request(events.pop(), None)  # warm: the derivative exists after this
    cpu_ms, wall_ms = [], []
    for event in events:
        began_cpu, began = time.process_time(), time.perf_counter()
        result = handler.origin_request(event, None)
        cpu_ms.append((time.process_time() - began_cpu) * 1000)
        wall_ms.append((time.perf_counter() - began) * 1000)
    outcome = result["headers"]["x-tachyon-outcome"][0]["value"]
    return {"cpu_ms": cpu_ms, "wall_ms": wall_ms, "outcome": outcome, "first": first.get("uri")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["cloudfront", "cpu"])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--targets", nargs="+", required=True)
    parser.add_argument("--warm", nargs="*", default=[])
    parser.add_argument("--origins", choices=["default", "single", "primary"], default="default")
    parser.add_argument("--freshness", default=None)
    parser.add_argument("--sync-max-bytes", type=int, default=10_000_000)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    quiet()
    out = asyncio.run(cloudfront(args)) if args.mode == "cloudfront" else cpu(args)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
