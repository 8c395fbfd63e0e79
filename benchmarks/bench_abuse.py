"""Abuse benchmark: 10,000 distinct abusive URLs for one original, through the local CloudFront,
with each control off and on (docs/security.md).

Run: ``.venv/bin/python benchmarks/bench_abuse.py [--urls 10000] [--quick]``

The URLs, all for one original (a 200×150 JPEG): a fifth distinct valid derivatives
(``w`` 1–200 × ``quality`` 1–10, the "millions of renders" attack), the rest spellings
of one derivative (junk arguments, reordered, re-encoded: the "new cache key per junk
argument" attack). Each control runs on its own fresh bucket, Redis database and
distribution, twice: with the original rendered at the edge (renders, objects;
``--urls``, 10,000) and with every miss queued (``sync_max_bytes = 0``, no worker:
jobs; ``--queued-urls``, 2,000 of the same mix, to keep the run to minutes). Real parts: moto's S3 server, a
redis-server of its own on a free port, the edge's own triggers, the viewer
function under QuickJS. Counted per control: renders done (the edge's log lines),
objects stored (S3 listing), jobs enqueued (the Redis queue), function invocations
(viewer function and origin-request), and what the viewer got (status and
``x-tachyon``). Prints a table and writes ``docs/benchmarks/abuse.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from benchmarks.record import write  # noqa: E402

KEY = "bench-signing-key-" + "x" * 32
WORDPRESS_SIZES = [150, 300, 768, 1024, 1536, 2048]
PRESETS = {"thumbnail": "resize=150,150", "medium": "fit=300,300"}
#: (name, settings) per control; budgets are at their defaults unless a control says otherwise.
OFF: dict[str, Any] = {"viewer_function": False, "max_derivatives_per_original": 0, "max_pending_jobs": 0}
ALLOWED: dict[str, Any] = {"size_policy": "allowed", "allowed_sizes": WORDPRESS_SIZES}
BUDGETS: dict[str, Any] = {"max_derivatives_per_original": 1000, "max_pending_jobs": 10_000}
CONTROLS: list[tuple[str, dict[str, Any]]] = [
    ("none", OFF),
    ("viewer function (canonical query)", OFF | {"viewer_function": True}),
    ("signed URLs", OFF | {"signing_keys": [KEY]}),
    ("size policy: allowed sizes, redirect", OFF | ALLOWED),
    ("size policy: presets", OFF | {"size_policy": "presets", "presets": PRESETS}),
    ("budgets (defaults: 1,000 / 10,000)", OFF | BUDGETS),
    ("all on (allowed sizes)", {"viewer_function": True, "signing_keys": [KEY], **ALLOWED, **BUDGETS}),
]
#: Run on the queued path only: a queue budget set low enough for the mix to reach it.
QUEUED_ONLY: list[tuple[str, dict[str, Any]]] = [
    ("queue budget set low (100 waiting jobs)", OFF | BUDGETS | {"max_pending_jobs": 100}),
]


def abusive_urls(count: int) -> list[str]:
    """``count`` distinct URLs: a fifth distinct valid derivatives (``w`` × ``quality``), the rest
    junk spellings of one derivative (junk arguments, reordered, re-encoded, empty values)."""
    valid = [f"/photo.jpg?w={w}&quality={q}" for q in range(1, 101) for w in range(1, 201)][: count // 5]
    templates = ("w=300&x={i}", "x={i}&w=300", "w=300&h=&ver={i}", "w=%33%30%30&utm_source={i}")
    junk = [f"/photo.jpg?{templates[i % 4].format(i=i)}" for i in range(count - len(valid))]
    return valid + junk


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Counted:
    """The real edge, counting origin-request invocations and the outcomes it logged."""

    def __init__(self, edge: Any) -> None:
        self.edge = edge
        self.origin_requests = 0

    async def origin_request(self, event: dict[str, Any]) -> dict[str, Any]:
        self.origin_requests += 1
        result: dict[str, Any] = await self.edge.origin_request(event)
        return result

    async def origin_response(self, event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.edge.origin_response(event)
        return result

    async def close(self) -> None:
        await self.edge.close()


class Outcomes(logging.Handler):
    """The edge's origin-request log lines, by outcome."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        line = getattr(record, "tachyon", {})
        if line.get("trigger") == "origin-request":
            self.counts[str(line.get("outcome"))] += 1
            if "budget" in line:
                self.counts["budget:" + str(line["budget"])] += 1


def original_jpeg() -> bytes:
    from PIL import Image

    image = Image.radial_gradient("L").convert("RGB").resize((200, 150))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


async def one(
    name: str, overrides: dict[str, Any], urls: list[str], *, s3: str, redis_url: str, queued: bool
) -> dict[str, Any]:
    """One control on one path: a fresh bucket, Redis database and distribution."""
    import boto3
    import redis
    from aiohttp.test_utils import TestClient, TestServer
    from yarl import URL

    from core.jobs import LIVE_QUEUE
    from core.settings import Settings
    from edge.flow import Edge
    from edge.local.cloudfront import LocalCloudFront

    bucket = f"abuse-{uuid.uuid4().hex[:10]}"
    s3_client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")
    s3_client.create_bucket(Bucket=bucket)
    s3_client.put_object(Bucket=bucket, Key="photo.jpg", Body=original_jpeg(), ContentType="image/jpeg")
    broker = redis.Redis.from_url(redis_url)
    broker.flushdb()
    fields: dict[str, Any] = {"bucket": bucket, "s3_endpoint": s3, "broker_url": redis_url}
    fields |= {"lock_url": redis_url, **({"sync_max_bytes": 0} if queued else {}), **overrides}
    settings = Settings(**fields)
    triggers = Counted(Edge(settings))
    outcomes = Outcomes()
    logger = logging.getLogger("tachyon.edge")
    logger.addHandler(outcomes)
    logger.propagate = False
    viewer: Counter[str] = Counter()
    local = LocalCloudFront(settings, triggers, on_request=lambda served: None)
    started = time.perf_counter()
    try:
        async with TestClient(TestServer(local.app())) as client:
            base = str(client.make_url("/")).rstrip("/")
            for target in urls:
                async with client.session.get(URL(base + target, encoded=True), allow_redirects=False) as r:
                    await r.read()
                    viewer[f"{r.status} {r.headers.get('x-tachyon', '-')}"] += 1
    finally:
        logger.removeHandler(outcomes)
    seconds = time.perf_counter() - started
    listed = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="_derivatives/")
    stored = sum(len(page.get("Contents", [])) for page in listed)
    return {
        "control": name,
        "path": "queued" if queued else "rendered at the edge",
        "urls": len(urls),
        "renders": outcomes.counts["rendered"],
        "objects_stored": stored,
        "jobs_enqueued": int(broker.llen(LIVE_QUEUE)),
        "viewer_function_invocations": local.viewer.invocations if local.viewer else 0,
        "origin_request_invocations": triggers.origin_requests,
        "budget_refusals": {
            k.split(":")[1]: v for k, v in outcomes.counts.items() if k.startswith("budget:")
        },
        "viewer_got": dict(sorted(viewer.items(), key=lambda kv: -kv[1])),
        "seconds": round(seconds, 1),
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = ("control", "path", "renders", "stored", "jobs", "viewer fn", "origin-req", "viewer got")
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in rows:
        got = ", ".join(f"{k}: {v}" for k, v in r["viewer_got"].items())
        lines.append(" | ".join(str(x) for x in (
            r["control"], r["path"], r["renders"], r["objects_stored"], r["jobs_enqueued"],
            r["viewer_function_invocations"], r["origin_request_invocations"], got)))  # fmt: skip
    return "\n".join("| " + line + " |" for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=10_000, help="abusive URLs per control, edge path")
    parser.add_argument("--queued-urls", type=int, default=2_000, help="the same mix, queued path")
    parser.add_argument("--quick", action="store_true", help="write under benchmarks/results/")
    options = parser.parse_args()
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    redis_port = free_port()
    folder = tempfile.mkdtemp(prefix="bench-abuse-redis-")
    redis_server = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no", "--dir", folder],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    rows: list[dict[str, Any]] = []
    try:
        for queued in (False, True):
            urls = abusive_urls(options.queued_urls if queued else options.urls)
            for name, overrides in CONTROLS + (QUEUED_ONLY if queued else []):
                where = {"s3": f"http://{host}:{port}", "redis_url": f"redis://127.0.0.1:{redis_port}/0"}
                row = asyncio.run(one(name, overrides, urls, **where, queued=queued))
                rows.append(row)
                print(f"{name} ({row['path']}): {row['seconds']} s", flush=True)
    finally:
        redis_server.terminate()
        redis_server.wait(timeout=10)
        moto.stop()
    print(table(rows))
    write(
        "abuse",
        {"urls_per_run": len(urls), "note": "shared 2-CPU machine", "runs": rows},
        quick=options.quick,
    )


if __name__ == "__main__":
    main()
