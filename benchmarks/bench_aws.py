"""AWS-native path benchmark: dedup cost per miss, messages per stampede, miss → hit and purge latencies.

Run: ``.venv/bin/python benchmarks/bench_aws.py [--baseline ../main] [--quick]``

Everything talks over HTTP to moto's server, run in a process of its own (so
its CPU does not share this process's GIL), and to the machine's Redis.

1. **Dedup, per miss**: requests and milliseconds of one claim, for a winner
   (first miss) and a loser (the job is pending), for each mechanism: Redis
   (the edge's ``RedisClaims``: GET of the failure record, SET NX), the
   DynamoDB job table (``TableClaims``: one conditional UpdateItem), an S3
   marker object (PutObject If-None-Match, HEAD for a loser), and SQS FIFO
   deduplication ids (the SendMessage is the claim). Requests are counted at
   the client (botocore's ``before-send`` event, redis-py's commands).
2. **Messages per stampede**: 50 concurrent misses for one large original,
   spread over 10 ``Edge`` instances (10 Lambda containers), then the queue's
   depth: Redis broker and lock; SQS with the job table; SQS without one.
3. **Miss → hit through SQS**: a real ``celery worker`` on SQS (2 processes),
   an animated GIF and a 2.3 MB PNG: from the first miss (queued) until a miss
   is answered with the derivative (``hit``), polling every 50 ms.
4. **Purge → invalidation**: an original with derivatives is overwritten; S3
   notifies the events queue; the ``purge-events`` consumer (the purge
   Lambda's code) runs until the invalidation exists. On AWS add the event
   source's batching window.
5. **The edge's send**: the first ``SendMessage`` (botocore) in a fresh
   interpreter, imports and queue URL included, then later ones, against
   the same for Celery's ``send_task`` on Redis.
6. **Cold import, Redis deployment**: ``import edge.handler`` of this tree
   beside ``--baseline`` (another checkout, e.g. main), interleaved runs, and
   the number of modules each loads.
7. **A Redis password from Secrets Manager at cold start**: botocore client
   plus one GetSecretValue, in a fresh interpreter (moto: no network latency).

Prints a table and writes ``docs/benchmarks/aws.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import functools
import os
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))
for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
    os.environ.setdefault(name, value)

import boto3  # noqa: E402
import redis  # noqa: E402

if TYPE_CHECKING:
    from tests.aws import Endpoints

REDIS_HOST = os.environ.get("TACHYON_TEST_REDIS", "redis://127.0.0.1:6379")
FIXTURES = ROOT / "tests" / "fixtures"
#: moto in its own process: a threaded server, and one serving DynamoDB a request at a time
#: (DynamoDB applies a conditional write atomically; moto checks, then writes: see tests/conftest.py).
MOTO = """
import sys, threading
from moto.server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
serial = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app), threaded=False,
                     request_handler=MotoRequestHandler)
threading.Thread(target=serial.serve_forever, daemon=True).start()
print("http://%s:%d" % server.get_host_and_port(), "http://127.0.0.1:%d" % serial.server_address[1],
      flush=True)
sys.stdin.read()
"""


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def claim_database() -> tuple[str, Any]:
    """A Redis database no test run holds (the tests' lock scheme), flushed."""
    admin = redis.Redis.from_url(f"{REDIS_HOST}/0")
    token = uuid.uuid4().hex
    for number in range(15, 0, -1):
        if admin.set(f"tachyon-test-db:{number}", token, nx=True, ex=3600):
            url = f"{REDIS_HOST}/{number}"
            redis.Redis.from_url(url).flushdb()
            return url, functools.partial(admin.delete, f"tachyon-test-db:{number}")
    raise SystemExit("no free Redis database")


def counted(client: Any) -> list[int]:
    """A counter of the HTTP requests a botocore client sends."""
    count = [0]
    client.meta.events.register("before-send", lambda **_: count.__setitem__(0, count[0] + 1))
    return count


# ------------------------------------------------------------------- 1. dedup per miss


def dedup_costs(endpoints: Endpoints, redis_url: str, rounds: int) -> dict[str, Any]:
    endpoint = endpoints.main
    from redis.asyncio import Redis

    from core.jobs import RenderJob
    from core.settings import Settings
    from edge.aws import TableClaims
    from edge.queue import RedisClaims
    from tests.aws import Stack

    stack = Stack(endpoints)
    settings = Settings(**stack.settings())
    loop = asyncio.new_event_loop()
    out: dict[str, Any] = {}

    class CountingRedis(Redis):  # type: ignore[misc]
        commands = 0

        async def execute_command(self, *args: Any, **options: Any) -> Any:
            CountingRedis.commands += 1
            return await super().execute_command(*args, **options)

    def job(token: str) -> RenderJob:
        return RenderJob("bucket", "big.png", "w=100", token, None, "etag-1")

    def measure(name: str, claim: Any, requests: Any) -> None:
        for role in ("winner", "loser"):
            times, counts = [], []
            for index in range(rounds):
                token = f"{name}-{index}-{uuid.uuid4().hex}"
                if role == "loser":
                    claim(token)  # somebody else took it first
                before, started = requests(), time.perf_counter()
                claim(token)
                times.append(time.perf_counter() - started)
                counts.append(requests() - before)
            out.setdefault(name, {})[role] = {"requests": statistics.median(counts),
                                              "ms_median": ms(statistics.median(times))}  # fmt: skip

    redis_claims = RedisClaims(settings, redis_url, CountingRedis.from_url(redis_url))
    measure("redis", lambda t: loop.run_until_complete(redis_claims.claim(job(t), t)),
            lambda: CountingRedis.commands)  # fmt: skip
    table = TableClaims(settings)
    table_requests = counted(table._client())
    measure("dynamodb", lambda t: loop.run_until_complete(table.claim(job(t), t)), lambda: table_requests[0])

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="markers")
    s3_requests = counted(s3)

    def marker(token: str) -> bool:
        try:
            s3.put_object(Bucket="markers", Key=f"pending/{token}", Body=uuid.uuid4().bytes, IfNoneMatch="*",
                          Metadata={"expires-at": str(int(time.time()) + 300)})  # fmt: skip
            return True
        except s3.exceptions.ClientError:
            head = s3.head_object(Bucket="markers", Key=f"pending/{token}")  # expired? (then take it over)
            return int(head["Metadata"]["expires-at"]) < time.time()

    measure("s3_marker", marker, lambda: s3_requests[0])
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    fifo = sqs.create_queue(QueueName=f"{stack.prefix}derivatives.fifo", Attributes={"FifoQueue": "true"})
    sqs_requests = counted(sqs)

    def fifo_send(token: str) -> None:
        sqs.send_message(QueueUrl=fifo["QueueUrl"], MessageBody="{}", MessageGroupId=token,
                         MessageDeduplicationId=token)  # fmt: skip

    measure("sqs_fifo", fifo_send, lambda: sqs_requests[0])
    out["sqs_fifo"]["note"] = "the SendMessage is the enqueue itself: 0 requests beyond it"
    loop.run_until_complete(redis_claims.close())
    loop.run_until_complete(table.close())
    loop.close()
    return out


# ------------------------------------------------------------------- 2. stampede


def stampede(
    endpoints: Endpoints, redis_url: str, *, misses: int = 50, containers: int = 10
) -> dict[str, Any]:
    endpoint = endpoints.main
    from core.settings import Settings
    from edge.flow import Edge
    from tests.aws import Stack
    from tests.cf_events import header, origin_request

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="large.png", Body=(FIXTURES / "humans.png").read_bytes())
    common = {"s3_endpoint": endpoint, "bucket": bucket, "sync_max_bytes": 1_000_000}

    def run(settings: Settings) -> tuple[list[str], float]:
        async def main() -> list[str]:
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(64))
            edges = [Edge(settings) for _ in range(containers)]
            event = origin_request(bucket, "/large.png", "resize=150%2C150")
            try:
                answers = await asyncio.gather(
                    *(edges[i % containers].origin_request(copy.deepcopy(event)) for i in range(misses))
                )
            finally:
                for edge in edges:
                    await edge.close()
            return [str(header(a, "x-tachyon-outcome")) for a in answers]

        started = time.perf_counter()
        outcomes = asyncio.run(main())
        return outcomes, time.perf_counter() - started

    out: dict[str, Any] = {}
    redis.Redis.from_url(redis_url).flushdb()
    outcomes, seconds = run(Settings(**common, broker_url=redis_url))
    out["redis"] = {"messages": redis.Redis.from_url(redis_url).llen("derivatives"), "seconds": seconds,
                    "queued": outcomes.count("queued")}  # fmt: skip
    for name, with_table in (("sqs_job_table", True), ("sqs_no_lock_store", False)):
        stack = Stack(endpoints)
        fields = stack.settings() | ({} if with_table else {"job_table": None})
        outcomes, seconds = run(Settings(**common, **fields))
        out[name] = {"messages": sum(stack.depth("derivatives")), "seconds": seconds,
                     "queued": outcomes.count("queued")}  # fmt: skip
    out["misses"], out["containers"] = misses, containers
    return out


# ------------------------------------------------------------------- 3. miss → hit through SQS


def miss_to_hit(endpoints: Endpoints, runs: int) -> dict[str, Any]:
    endpoint = endpoints.main
    from core.settings import Settings
    from edge.flow import Edge
    from tests.aws import Stack
    from tests.cf_events import header, origin_request
    from tests.worker_process import running_worker

    stack = Stack(endpoints)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    for name in ("animated.gif", "humans.png"):
        s3.put_object(Bucket=bucket, Key=name, Body=(FIXTURES / name).read_bytes())
    settings = Settings(s3_endpoint=endpoint, bucket=bucket, sync_max_bytes=1_000_000, **stack.settings())
    env = stack.env() | {"TACHYON_S3_ENDPOINT": endpoint, "TACHYON_LOCK_URL": ""}
    out: dict[str, Any] = {}

    async def one(edge: Edge, name: str, query: str) -> float:
        first = await edge.origin_request(origin_request(bucket, f"/{name}", query))
        assert header(first, "x-tachyon-outcome") == "queued", first
        started = time.perf_counter()
        while True:
            answer = await edge.origin_request(origin_request(bucket, f"/{name}", query))
            if header(answer, "x-tachyon-outcome") == "hit":
                return time.perf_counter() - started
            await asyncio.sleep(0.05)

    async def main() -> None:
        edge = Edge(settings)
        await one(edge, "humans.png", "w=10")  # warm-up: the worker's first task, the edge's clients
        for name in ("animated.gif", "humans.png"):
            times = [await one(edge, name, f"w={120 + index}") for index in range(runs)]
            out[name] = {"runs": runs, "ms_median": ms(statistics.median(times)), "ms_max": ms(max(times))}
        await edge.close()

    with running_worker(env, concurrency=2):
        asyncio.run(main())
    return out


# ------------------------------------------------------------------- 4. purge → invalidation


def purge_latency(endpoints: Endpoints, runs: int) -> dict[str, Any]:
    endpoint = endpoints.main
    from core.settings import Settings
    from purger import handler
    from purger.consumer import run_once
    from tests.aws import Stack
    from tests.helpers import noisy_jpeg
    from worker.render import render_original

    stack = Stack(endpoints)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    url = stack.urls["events"]
    rule = {"QueueArn": stack.arn(url), "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [rule]}
    )
    cloudfront = boto3.client("cloudfront", endpoint_url=endpoint, region_name="us-east-1")
    origin = {
        "Id": "m",
        "DomainName": f"{bucket}.s3.amazonaws.com",
        "S3OriginConfig": {"OriginAccessIdentity": ""},
    }
    config = {"CallerReference": uuid.uuid4().hex, "Comment": "", "Enabled": True,
              "Origins": {"Quantity": 1, "Items": [origin]},
              "DefaultCacheBehavior": {"TargetOriginId": "m", "ViewerProtocolPolicy": "allow-all",
                                       "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"}}  # fmt: skip
    distribution = cloudfront.create_distribution(DistributionConfig=config)["Distribution"]["Id"]
    settings = Settings(s3_endpoint=endpoint, bucket=bucket, cloudfront_distribution_id=distribution,
                        queue_prefix=stack.prefix)  # fmt: skip
    handler.configure(settings)
    times = []
    for index in range(runs):
        key = f"photos/{index}.jpg"
        s3.put_object(Bucket=bucket, Key=key, Body=noisy_jpeg(400, 300, seed=index))
        render_original(settings, bucket, key, ["w=100", "w=200"])
        while run_once(settings, url, window=0.5).originals or stack.depth("events")[0]:
            pass  # the upload's and the renders' events: nothing to invalidate
        started = time.perf_counter()
        s3.put_object(Bucket=bucket, Key=key, Body=noisy_jpeg(400, 300, seed=100 + index))
        while not run_once(settings, url, window=0).invalidation:
            pass
        times.append(time.perf_counter() - started)
    return {"runs": runs, "ms_median": ms(statistics.median(times)), "ms_max": ms(max(times)),
            "note": "S3 → SQS → purge-events consumer → CreateInvalidation; "
                    "on AWS add the event source's batching window"}  # fmt: skip


# ------------------------------------------------------------------- 5. the edge's send


def send_costs(endpoints: Endpoints, redis_url: str, sends: int) -> dict[str, Any]:
    """The first send in a fresh interpreter (imports, client, queue URL), then later sends."""
    from core.jobs import RenderJob
    from core.settings import Settings
    from edge.queue import make_sender
    from tests.aws import Stack

    stack = Stack(endpoints)
    out: dict[str, Any] = {}
    brokers = {"sqs_botocore": stack.settings(), "redis_celery": {"broker_url": redis_url}}
    for name, fields in brokers.items():
        first = fresh(
            "import asyncio; from core.settings import Settings; from core.jobs import RenderJob; "
            "from edge.queue import make_sender; "
            f"asyncio.run(make_sender(Settings(**{fields!r})).send(RenderJob('b', 'k.png', 'w=1', 't')))"
        )
        sender = make_sender(Settings(**fields))
        loop = asyncio.new_event_loop()
        job = RenderJob("bucket", "big.png", "w=100", "token", None, "etag")
        loop.run_until_complete(sender.send(job))
        times = []
        for _ in range(sends):
            started = time.perf_counter()
            loop.run_until_complete(sender.send(job))
            times.append(time.perf_counter() - started)
        loop.run_until_complete(sender.close())
        loop.close()
        out[name] = {"first_ms_cold": ms(first["seconds"]), "modules_loaded": int(first["modules"]),
                     "later_ms_median": ms(statistics.median(times))}  # fmt: skip
    return out


# ------------------------------------------------------------------- 6. and 7. fresh interpreters


def fresh(statement: str, *, path: Path = ROOT, env: dict[str, str] | None = None) -> dict[str, float]:
    """Seconds ``statement`` takes in a fresh interpreter (start-up excluded) and the modules it loaded."""
    code = (f"import sys, time; n = len(sys.modules); t = time.perf_counter(); {statement}; "
            "print(time.perf_counter() - t, len(sys.modules) - n)")  # fmt: skip
    environment = {**os.environ, **(env or {}), "PYTHONPATH": str(path)}
    environment.pop("TACHYON_CONFIG", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=path,
                          env=environment, check=True)  # fmt: skip
    seconds, modules = done.stdout.split()
    return {"seconds": float(seconds), "modules": float(modules)}


def cold_imports(baseline: Path | None, runs: int) -> dict[str, Any]:
    trees = {"this tree": ROOT} | ({"baseline": baseline} if baseline else {})
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(runs):  # interleaved: machine load hits both alike
        for name, tree in trees.items():
            samples[name].append(fresh("import edge.handler", path=tree))
    return {
        name: {"ms_median": ms(statistics.median(s["seconds"] for s in runs_)),
               "modules": int(statistics.median(s["modules"] for s in runs_)), "path": str(trees[name])}
        for name, runs_ in samples.items()
    }  # fmt: skip


def secret_fetch(endpoint: str, runs: int) -> dict[str, Any]:
    client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1")
    client.create_secret(Name="tachyon-redis", SecretString="rediss://:s3cret@redis.example.net:6380/0")
    statement = ("import botocore.session; c = botocore.session.get_session().create_client("
                 f"'secretsmanager', region_name='us-east-1', endpoint_url={endpoint!r}); "
                 "c.get_secret_value(SecretId='tachyon-redis')")  # fmt: skip
    times = [fresh(statement)["seconds"] for _ in range(runs)]
    return {"runs": runs, "ms_median": ms(statistics.median(times)),
            "note": "import botocore + client + one call, moto on loopback; add one round trip to the "
                    "secret's region from the replica's"}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", type=Path, help="another checkout to compare the cold import with")
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    rounds, runs = (10, 2) if args.quick else (50, 5)

    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("tachyon.edge").setLevel(logging.WARNING)
    logging.getLogger("tachyon.purge").setLevel(logging.WARNING)
    moto = subprocess.Popen(
        [sys.executable, "-c", MOTO], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert moto.stdout is not None
    endpoint, serial = moto.stdout.readline().split()
    from tests.aws import Endpoints

    endpoints = Endpoints(endpoint, serial)
    os.environ.update(endpoints.env())  # SQS, DynamoDB, CloudFront at moto, as the tests do
    redis_url, release = claim_database()
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "load_1m": os.getloadavg()[0]}}
    try:
        results["dedup_per_miss"] = dedup_costs(endpoints, redis_url, rounds)
        print("dedup done", file=sys.stderr)
        results["stampede"] = stampede(endpoints, redis_url)
        print("stampede done", file=sys.stderr)
        results["send"] = send_costs(endpoints, redis_url, rounds)
        results["miss_to_hit_sqs"] = miss_to_hit(endpoints, runs)
        print("miss to hit done", file=sys.stderr)
        results["purge_to_invalidation"] = purge_latency(endpoints, runs)
        results["cold_import_redis_deployment"] = cold_imports(args.baseline, 3 if args.quick else 7)
        results["secret_at_cold_start"] = secret_fetch(endpoint, runs)
    finally:
        redis.Redis.from_url(redis_url).flushdb()
        release()
        moto.stdin.close()  # type: ignore[union-attr]
        moto.terminate()
    results["machine"]["load_1m_after"] = os.getloadavg()[0]
    from benchmarks import record

    record.write("aws", results, quick=args.quick)
    report(results)


def report(results: dict[str, Any]) -> None:
    rows: list[tuple[str, str]] = []
    for name, costs in results["dedup_per_miss"].items():
        win, lose = costs["winner"], costs["loser"]
        rows.append(
            (
                f"dedup {name}: requests / ms, winner · loser",
                f"{win['requests']:g} / {win['ms_median']:.1f} · "
                f"{lose['requests']:g} / {lose['ms_median']:.1f}",
            )
        )
    stamp = results["stampede"]
    for name in ("redis", "sqs_job_table", "sqs_no_lock_store"):
        rows.append(
            (
                f"messages per stampede ({stamp['misses']} misses, {stamp['containers']} containers), {name}",
                str(stamp[name]["messages"]),
            )
        )
    for name, send in results["send"].items():
        rows.append((f"edge send {name}: first (fresh process, imports included) / later ms",
                     f"{send['first_ms_cold']:.0f} / {send['later_ms_median']:.1f}"))  # fmt: skip
    for name, timing in results["miss_to_hit_sqs"].items():
        rows.append(
            (
                f"miss → hit through SQS, {name} (median / max)",
                f"{timing['ms_median']:.0f} / {timing['ms_max']:.0f} ms",
            )
        )
    purge = results["purge_to_invalidation"]
    rows.append(
        ("overwrite → invalidation (median / max)", f"{purge['ms_median']:.0f} / {purge['ms_max']:.0f} ms")
    )
    for name, cold in results["cold_import_redis_deployment"].items():
        rows.append(
            (f"cold import edge.handler, {name}", f"{cold['ms_median']:.0f} ms, {cold['modules']} modules")
        )
    rows.append(
        (
            "Secrets Manager client + GetSecretValue, cold",
            f"{results['secret_at_cold_start']['ms_median']:.0f} ms",
        )
    )
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    machine = results["machine"]
    print(f"\nload average (1 min) before/after: {machine['load_1m']:.2f} / {machine['load_1m_after']:.2f} "
          f"on {machine['cpus']} CPUs (shared machine)")  # fmt: skip


if __name__ == "__main__":
    main()
