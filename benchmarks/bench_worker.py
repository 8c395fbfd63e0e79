"""Benchmark of the worker: renders/s per process count, batch fan-out rate, one-download size sets.

Plain script (no pytest): prints a table and writes ``docs/benchmarks/worker.json``
(``benchmarks/results/`` with ``--quick``; see ``benchmarks/record.py``).

    .venv/bin/python benchmarks/bench_worker.py            # full run (a few minutes on 2 cores)
    .venv/bin/python benchmarks/bench_worker.py --quick    # fewer jobs and keys

Needs the machine's Redis (127.0.0.1:6379; a free database is claimed as the
tests do). S3 is moto's server over HTTP, in this process.

1. Renders per second with 1 and 2 worker processes: a real ``celery worker``
   (``-c 1`` / ``-c 2``), N live jobs sent as the edge sends them (pending key,
   ``send_task`` by name) for distinct widths of one 3-megapixel JPEG; timed from
   the first send until every pending key is released. Target: 2 ≥ 1.8 × 1.
2. Batch fan-out over 100,000 listed keys: ``worker.batch.fan_out`` publishing
   one ``tachyon.batch.render`` per key to the Redis broker. The keys come from a
   synthetic lister (pages of 1,000 names, as ListObjectsV2 returns them):
   100,000 PutObjects into moto would take longer than the whole benchmark.
   Reported: tasks enqueued per second (target ≥ 2,000) and RSS during the run.
3. A WordPress size set (150×150 crop, 300, 768, 1024, 2048) of one seeded
   24-megapixel JPEG: ``render_many`` (one decode) beside five ``render_transform``.
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import resource
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import redis  # noqa: E402
from PIL import Image  # noqa: E402

REDIS_HOST = os.environ.get("TACHYON_TEST_REDIS", "redis://127.0.0.1:6379")
WORDPRESS = ("resize=150,150", "w=300", "w=768", "w=1024", "w=2048")


def rss_mb() -> float:
    """Current resident set size of this process, MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def claim_database() -> tuple[str, Any]:
    """A Redis database no test run holds (the tests' lock scheme), flushed."""
    admin = redis.Redis.from_url(f"{REDIS_HOST}/0")
    token = uuid.uuid4().hex
    for number in range(15, 0, -1):
        if admin.set(f"tachyon-test-db:{number}", token, nx=True, ex=3600):
            url = f"{REDIS_HOST}/{number}"
            redis.Redis.from_url(url).flushdb()
            lock = f"tachyon-test-db:{number}"
            return url, functools.partial(admin.delete, lock)
    raise SystemExit("no free Redis database")


def jpeg_bytes(image: Image.Image, quality: int = 88) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


# ------------------------------------------------------------------- 1. renders per second


def renders_per_second(
    processes: int, jobs: int, *, broker: str, endpoint: str, s3: Any, source: bytes
) -> dict[str, float]:
    from core.jobs import pending_key
    from core.settings import Settings
    from tests.helpers import EdgeQueue
    from tests.worker_process import running_worker, wait_for

    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    key = "photos/camera.jpg"
    s3.put_object(Bucket=bucket, Key=key, Body=source)
    locks = redis.Redis.from_url(broker)
    env = {"TACHYON_BROKER_URL": broker, "TACHYON_S3_ENDPOINT": endpoint, "TACHYON_LOCK_URL": ""}
    with running_worker(env, queues=("derivatives",), concurrency=processes):
        edge = EdgeQueue(Settings(broker_url=broker, s3_endpoint=endpoint), s3)

        def send(widths: range) -> list[str]:
            """Enqueue one render per width through the edge's own queue adapter; the pending keys."""
            return [pending_key(edge.enqueue(bucket, key, f"w={width}")[0]) for width in widths]

        # Warm-up: one job per process (imports, first S3 connection).
        warm = send(range(100, 100 + processes))
        wait_for(lambda: not locks.exists(*warm), 120, what="warm-up")
        started = time.perf_counter()
        tokens = send(range(600, 600 + jobs))
        wait_for(lambda: not locks.exists(*tokens), 600, interval=0.02, what="all renders")
        elapsed = time.perf_counter() - started
        edge.close()
    return {
        "processes": processes,
        "jobs": jobs,
        "cpu_note": "shared machine",
        "seconds": elapsed,
        "renders_per_s": jobs / elapsed,
    }


# ------------------------------------------------------------------- 2. fan-out


def synthetic_pages(total: int) -> Iterator[list[str]]:
    """ListObjectsV2-shaped pages of keys, 1,000 at a time, one in 50 not an image."""
    for start in range(0, total, 1000):
        yield [
            f"uploads/{i // 10_000:02d}/{i // 100 % 100:02d}/photo-{i:07d}.{'txt' if i % 50 == 0 else 'jpg'}"
            for i in range(start, min(total, start + 1000))
        ]


def fan_out_rate(total: int, broker: str) -> dict[str, float]:
    from core.settings import Settings
    from worker.app import configure
    from worker.batch import fan_out
    from worker.progress import RedisProgress, progress_key

    configure(Settings(broker_url=broker))
    locks = redis.Redis.from_url(broker)
    run = uuid.uuid4().hex[:12]
    progress = RedisProgress(locks)
    progress.start(run, bucket="bench", prefix="uploads/", queries=["w=300", "resize=150,150"])
    samples: list[float] = []

    def pages() -> Iterator[list[str]]:
        for count, page in enumerate(synthetic_pages(total)):
            if count % 10 == 0:
                samples.append(rss_mb())
            yield page

    before = rss_mb()
    started, cpu_started = time.perf_counter(), time.process_time()
    sent, _ = fan_out(pages(), "bench", ["w=300", "resize=150,150"], run, progress=progress)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    queued = locks.llen("batch")
    expected = int(locks.hget(progress_key(run), "expected") or 0)
    locks.delete("batch")
    return {
        "listed_keys": total,
        "tasks_sent": sent,
        "tasks_in_queue": queued,
        "expected_derivatives": expected,
        "seconds": elapsed,
        "tasks_per_s": sent / elapsed,
        "tasks_per_cpu_s": sent / cpu,
        "rss_mb_before": before,
        "rss_mb_first_pages": samples[1] if len(samples) > 1 else before,
        "rss_mb_last_pages": samples[-1] if samples else before,
        "peak_rss_mb_process": peak_rss_mb(),
    }


# ------------------------------------------------------------------- 3. WordPress set


def wordpress_set(source: bytes, repeats: int) -> dict[str, float]:
    from core.args import parse_query
    from core.limits import DEFAULT_LIMITS as LIMITS
    from core.processing import probe, render_many, render_transform

    info = probe(source, LIMITS)
    jobs = [(parse_query(q, LIMITS), info.format) for q in WORDPRESS]
    best_many = best_each = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        outputs = render_many(source, jobs, LIMITS)  # type: ignore[arg-type]
        best_many = min(best_many, time.perf_counter() - started)
        started = time.perf_counter()
        singles = [render_transform(source, t, f, LIMITS) for t, f in jobs]  # type: ignore[arg-type]
        best_each = min(best_each, time.perf_counter() - started)
    sizes = [f"{o.width}x{o.height}" for o in outputs]
    assert sizes == [f"{o.width}x{o.height}" for o in singles], (sizes, singles)
    return {"render_many_s": best_many, "five_renders_s": best_each, "speedup": best_each / best_many}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer jobs and keys")
    args = parser.parse_args()
    jobs = 16 if args.quick else 40
    keys = 20_000 if args.quick else 100_000

    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    from benchmarks.bench_render import photo

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log

    broker, release = claim_database()
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "load_1m": os.getloadavg()[0]}}
    try:
        results["fan_out"] = fan_out_rate(keys, broker)
        print(f"fan-out done: {results['fan_out']['tasks_per_s']:.0f} tasks/s", file=sys.stderr)

        camera = jpeg_bytes(photo(6000, 4000, seed=24), quality=90)
        results["wordpress_set"] = {"source": "seeded 6000×4000 JPEG q90", "bytes": len(camera)}
        results["wordpress_set"] |= wordpress_set(camera, repeats=1 if args.quick else 3)
        print("size set done", file=sys.stderr)

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        medium = jpeg_bytes(photo(2000, 1500, seed=3))
        results["renders"] = [
            renders_per_second(n, jobs, broker=broker, endpoint=endpoint, s3=s3, source=medium)
            for n in (1, 2)
        ]
        # The worker's real diet: camera originals too big for the edge (S3 overhead relatively smaller).
        results["renders_camera"] = [
            renders_per_second(n, jobs // 2, broker=broker, endpoint=endpoint, s3=s3, source=camera)
            for n in (1, 2)
        ]
        server.stop()
    finally:
        redis.Redis.from_url(broker).flushdb()
        release()

    one, two = results["renders"]
    results["scaling_2_over_1"] = two["renders_per_s"] / one["renders_per_s"]
    cam_one, cam_two = results["renders_camera"]
    results["camera_scaling_2_over_1"] = cam_two["renders_per_s"] / cam_one["renders_per_s"]
    results["machine"]["load_1m_after"] = os.getloadavg()[0]
    fan = results["fan_out"]
    wp = results["wordpress_set"]
    rows = [
        ("renders/s, 1 worker process (3 MP JPEG → w=600…)", f"{one['renders_per_s']:.2f}", ""),
        ("renders/s, 2 worker processes", f"{two['renders_per_s']:.2f}", ""),
        ("scaling 2 / 1", f"{results['scaling_2_over_1']:.2f}×", "≥ 1.8×"),
        ("renders/s, 1 worker process (24 MP JPEG → w=600…)", f"{cam_one['renders_per_s']:.2f}", ""),
        ("renders/s, 2 worker processes", f"{cam_two['renders_per_s']:.2f}", ""),
        ("scaling 2 / 1 (24 MP)", f"{results['camera_scaling_2_over_1']:.2f}×", "≥ 1.8×"),
        (f"batch fan-out, {fan['listed_keys']:,} listed keys", f"{fan['tasks_per_s']:,.0f} tasks/s",
         "≥ 2,000"),
        ("  per CPU-second of the sender", f"{fan['tasks_per_cpu_s']:,.0f} tasks/s", ""),
        ("  RSS at first pages → last pages", f"{fan['rss_mb_first_pages']:.0f} → "
         f"{fan['rss_mb_last_pages']:.0f} MB", "flat"),
        ("WordPress set of 24 MP JPEG: render_many", f"{wp['render_many_s']:.2f} s", ""),
        ("  five separate render_transform", f"{wp['five_renders_s']:.2f} s", ""),
        ("  speed-up of one decode", f"{wp['speedup']:.2f}×", ""),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  {'value':>18}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>18}  {target}")
    print(f"\nload average (1 min) before/after: {results['machine']['load_1m']:.2f} / "
          f"{results['machine']['load_1m_after']:.2f} on {os.cpu_count()} CPUs (shared machine)")  # fmt: skip
    from benchmarks import record

    record.write("worker", results, quick=args.quick)


if __name__ == "__main__":
    main()
