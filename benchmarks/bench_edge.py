"""Edge benchmark: what a CloudFront miss costs S3 and the function, before and after, in one run.

Run: ``.venv/bin/python benchmarks/bench_edge.py --before REV [--misses 20] [--rounds 4] [--runs 9]``

- **S3 per CloudFront miss**, counted at the S3 server: one moto S3 behind the
  request log of ``tests.s3log`` (each answer delayed ``--latency`` seconds, a
  stand-in for the edge-to-bucket round trip, so that requests sent together
  overlap). Each tree's own local CloudFront (``benchmarks/edge_miss.py`` run
  with that tree on ``PYTHONPATH``: ``--before REV`` unpacked by ``git archive``,
  and this tree) serves misses, its cache emptied before each: on an existing
  derivative, a new one rendered at the edge, a large original (queued), a
  missing original, in interleaved rounds (``--rounds``). Per miss: S3
  requests by the function (botocore) and by CloudFront, sequential round
  trips, the viewer's time. This tree runs as
  docs/deploy.md sets it up (origin group, ``freshness = "purge"``) and with
  ``freshness = "verify"``. Target: 1 request (CloudFront's) per miss on an
  existing derivative; the other misses no slower than before.
- **Handler CPU per miss on an existing derivative**: the Lambda entry point
  called directly, ``time.process_time`` per call (every thread of the
  process; S3 is in the bench's process). Target ≤ 0.2 ms for the primary pass.
- **Cold start from the Lambda zip**: the zip is built in this run (config
  pointing at the logged S3, byte-code compiled by Python 3.12) and unzipped;
  fresh ``python3.12 -I -S`` processes time ``import edge.handler`` plus the
  first primary pass, interleaved with ``import boto3; boto3.client("s3")``
  (boto3 of the installed version, installed for 3.12 and compiled alike).
  Target ≤ 0.15× the boto3 baseline.

Prints tables and writes ``docs/benchmarks/edge.json`` (see ``benchmarks/record.py``).
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder comes first on sys.path and its name would hide the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))
DRIVER = ROOT / "benchmarks" / "edge_miss.py"
FIXTURES = ROOT / "tests" / "fixtures"
EVENT = ROOT / "tests" / "events" / "origin-request-s3.json"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}

#: (name, tree: "before"/"after", driver options)
SIDES = (
    ("before", "before", []),
    ("after: origin group, purge", "after", []),
    ("after: origin group, verify", "after", ["--freshness", "verify"]),
)
SCENARIOS = (
    "existing derivative",
    "new derivative (rendered)",
    "large original (queued)",
    "missing original",
)


def environment(tree: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TACHYON_")}
    return env | AWS_ENV | {"PYTHONPATH": str(tree)}


def drive(tree: Path, *args: str) -> dict[str, Any]:
    """Run ``edge_miss.py`` inside ``tree``; its JSON answer."""
    done = subprocess.run(
        [sys.executable, str(DRIVER), *args], capture_output=True, text=True, env=environment(tree), cwd=tree,
        check=False, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{DRIVER.name} {' '.join(args[:1])} failed in {tree}:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def seed(s3: Any, bucket: str) -> None:
    s3.create_bucket(Bucket=bucket)
    for key, name in (("photo.jpg", "hdr.jpg"), ("big.jpg", "briefing-copywriting.jpg")):
        s3.put_object(Bucket=bucket, Key=key, Body=(FIXTURES / name).read_bytes(), ContentType="image/jpeg")


def scenario(name: str, misses: int) -> tuple[list[str], list[str], list[str]]:
    """(warm-up targets, measured targets, extra driver options) of one scenario.

    Every scenario warms up once (clients made, modules loaded), as a Lambda
    container that has served before.
    """
    if name == "existing derivative":
        return ["/photo.jpg?w=300"], ["/photo.jpg?w=300"] * misses, []
    if name == "new derivative (rendered)":
        return ["/photo.jpg?w=199"], [f"/photo.jpg?w={200 + i}" for i in range(misses)], []
    if name == "large original (queued)":
        targets = [f"/big.jpg?w={200 + i}" for i in range(misses)]
        return ["/big.jpg?w=199"], targets, ["--sync-max-bytes", "100000"]
    return ["/missing.jpg?w=300"], [f"/missing{i}.jpg?w=300" for i in range(misses)], []


def per_miss(log: Any, runs: list[tuple[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """The S3 requests inside each miss's time window (per bucket), summarised."""
    from tests.s3log import round_trips

    function, cloudfront, trips, wall = [], [], [], []
    misses = [miss for _, of_run in runs for miss in of_run]
    for bucket, miss in ((bucket, miss) for bucket, of_run in runs for miss in of_run):
        requests = log.of(bucket)
        inside = [r for r in requests if miss["started"] <= r.started and r.ended <= miss["ended"]]
        function.append(sum(r.by_function for r in inside))
        cloudfront.append(sum(not r.by_function for r in inside))
        trips.append(round_trips(inside))
        wall.append((miss["ended"] - miss["started"]) * 1000)
    outcomes = sorted({str(m["outcome"]) for m in misses})
    return {
        "function_requests": statistics.mean(function),
        "cloudfront_requests": statistics.mean(cloudfront),
        "round_trips": statistics.mean(trips),
        "viewer_ms_median": statistics.median(wall),
        "outcomes": outcomes,
        "statuses": sorted({m["status"] for m in misses}),
    }


def s3_per_miss(before: Path | None, misses: int, latency: float, rounds: int) -> dict[str, dict[str, Any]]:
    """Every side's misses, in ``rounds`` interleaved rounds so that load changes touch every side alike."""
    import boto3

    from tests.s3log import S3Log

    log = S3Log(latency=latency)
    s3 = boto3.client("s3", endpoint_url=log.endpoint, region_name="us-east-1")
    sides = [(side, before if tree == "before" else ROOT, tree, opts) for side, tree, opts in SIDES]
    sides = [entry for entry in sides if entry[1] is not None]
    found: dict[tuple[str, str], list[tuple[str, list[dict[str, Any]]]]] = {}
    out: dict[str, dict[str, Any]] = {side: {} for side, *_ in sides}
    try:
        for round_ in range(rounds):
            for number, name in enumerate(SCENARIOS):
                for index, (side, tree, _, options) in enumerate(sides):
                    bucket = f"bench-{round_}-{index}-{number}"
                    seed(s3, bucket)
                    warm, targets, extra = scenario(name, max(1, misses // rounds))
                    args = ["cloudfront", "--endpoint", log.endpoint, "--bucket", bucket, *options, *extra]
                    args += ["--targets", *targets] + (["--warm", *warm] if warm else [])
                    assert tree is not None
                    found.setdefault((side, name), []).append((bucket, drive(tree, *args)["misses"]))
        for (side, name), runs in found.items():
            out[side][name] = per_miss(log, runs)
        for index, (side, tree, tree_name, options) in enumerate(sides):
            bucket = f"bench-cpu-{index}"
            seed(s3, bucket)
            origins = [] if tree_name == "before" else ["--origins", "primary"]
            args = ["cpu", "--endpoint", log.endpoint, "--bucket", bucket, "--targets", "/photo.jpg?w=300"]
            assert tree is not None
            cpu = drive(tree, *args, *origins, *options)
            out[side]["handler"] = {
                "outcome": cpu["outcome"],
                "cpu_ms_median": statistics.median(cpu["cpu_ms"]),
                "cpu_ms_p95": sorted(cpu["cpu_ms"])[int(0.95 * len(cpu["cpu_ms"])) - 1],
                "wall_ms_median": statistics.median(cpu["wall_ms"]),
            }
    finally:
        log.stop()
    return out


def unpack(rev: str, into: Path) -> Path:
    """The tree of ``rev`` (a commit of this repository), unpacked with ``git archive``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True).stdout
    with tarfile_open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def tarfile_open(data: bytes) -> Any:
    import tarfile

    return tarfile.open(fileobj=io.BytesIO(data))


# --- cold start from the zip --------------------------------------------------------------


def python312() -> str | None:
    for candidate in [
        shutil.which("python3.12"),
        *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12"))),
    ]:
        if candidate and subprocess.run([candidate, "-V"], capture_output=True, check=False).returncode == 0:
            return candidate
    return None


def boto3_for(python: str, into: Path) -> Path:
    """boto3 of the installed version, for ``python``'s version, compiled like the zip."""
    from importlib import metadata

    target = into / "boto3"
    pins = [f"boto3=={metadata.version('boto3')}", f"botocore=={metadata.version('botocore')}"]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--target", str(target), "--python-version", "3.12", "--only-binary=:all:", "--no-compile", *pins],
        check=True, capture_output=True,
    )  # fmt: skip
    compile_all = [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
    subprocess.run([*compile_all, str(target)], check=True, capture_output=True)
    return target


def primary_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads(EVENT.read_text())
    request = event["Records"][0]["cf"]["request"]
    request.update(uri="/photo.jpg", querystring="w=300")
    request["origin"]["s3"]["customHeaders"] = {
        "x-tachyon-origin": [{"key": "X-Tachyon-Origin", "value": "primary"}]
    }
    return event


def run_in(python: str, path: Path, code: str) -> str:
    """The last line ``code`` prints in a fresh ``python -I -S`` with only ``path`` added to sys.path."""
    code = f"import sys; sys.path.insert(0, {str(path)!r}); {code}"
    env = {"PATH": os.environ.get("PATH", "")} | AWS_ENV
    done = subprocess.run(
        [python, "-I", "-S", "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return done.stdout.strip().splitlines()[-1]


def timed(python: str, path: Path, statement: str) -> float:
    """Seconds ``statement`` takes in a fresh interpreter (``run_in``; start-up excluded)."""
    return float(
        run_in(
            python, path, f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
        )
    )


def cold_start(runs: int) -> dict[str, Any] | None:
    """Build the zip (byte-code by Python 3.12), then time cold starts from it against boto3's."""
    from cli.lambda_zip import build

    python = python312()
    if python is None:
        print("no python3.12: cold start from the zip skipped", file=sys.stderr)
        return None
    event = primary_event()
    statements = {
        "primary pass: import edge.handler + first call": (
            f"import edge.handler as h; r = h.origin_request({event!r}); "
            "assert r['uri'].startswith('/_derivatives/')"
        ),
        "import edge.handler": "import edge.handler",
        "import boto3; boto3.client('s3')": "import boto3; boto3.client('s3', region_name='us-east-1')",
        "botocore session + S3 client (the failover pass's first need)": (
            "from botocore.session import get_session; "
            "get_session().create_client('s3', region_name='us-east-1')"
        ),
    }
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        work = Path(tmp)
        built = build(work / "edge.zip", compile_with=python)
        folder = work / "package"
        with zipfile.ZipFile(built.path) as archive:
            archive.extractall(folder)
        baseline = boto3_for(python, work)
        paths = {name: (baseline if "boto3" in name else folder) for name in statements}
        samples: dict[str, list[float]] = {name: [] for name in statements}
        for _ in range(runs):  # interleaved, so load changes touch every row alike
            for name, statement in statements.items():
                samples[name].append(timed(python, paths[name], statement))
        loaded = run_in(
            python, folder, f"import edge.handler as h; h.origin_request({event!r}); print(len(sys.modules))"
        )
        medians = {name: statistics.median(values) for name, values in samples.items()}
        best = {name: min(values) for name, values in samples.items()}
    base, primary = "import boto3; boto3.client('s3')", "primary pass: import edge.handler + first call"
    return {
        "python": subprocess.run([python, "-V"], capture_output=True, text=True, check=True).stdout.strip(),
        "cold_s": medians,
        "cold_best_s": best,
        "primary_ratio_vs_boto3": medians[primary] / medians[base],
        "primary_ratio_vs_boto3_best": best[primary] / best[base],
        "modules_after_primary_pass": int(loaded),
        "zip_bytes": built.size,
        "runs": runs,
    }


# --- report ---------------------------------------------------------------------------------


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    for row in [header, ["-" * w for w in widths], *rows]:
        print(
            "  ".join(
                str(cell).ljust(w) if i == 0 else str(cell).rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def report_s3(s3: dict[str, dict[str, Any]], latency: float, misses: int) -> None:
    sides = list(s3)
    rows = []
    for name in SCENARIOS:
        for side in sides:
            m = s3[side][name]
            rows.append([name if side == sides[0] else "", side, f"{m['function_requests']:.1f}",
                         f"{m['cloudfront_requests']:.1f}", f"{m['round_trips']:.1f}",
                         f"{m['viewer_ms_median']:.0f}", ",".join(m["outcomes"])])  # fmt: skip
    table(
        f"S3 per CloudFront miss, counted at the S3 server (answers delayed {latency * 1000:.0f} ms; "
        f"{misses} misses each; means, viewer time median)",
        ["miss on", "code", "function reqs", "CloudFront reqs", "round trips", "viewer ms", "x-tachyon"],
        rows,
    )
    table(
        "Handler CPU per miss on an existing derivative (Lambda entry point; process CPU, ms)",
        ["code", "x-tachyon-outcome", "median", "p95", "wall median"],
        [[side, s3[side]["handler"]["outcome"], f"{s3[side]['handler']['cpu_ms_median']:.3f}",
          f"{s3[side]['handler']['cpu_ms_p95']:.3f}", f"{s3[side]['handler']['wall_ms_median']:.1f}"]
         for side in sides],
    )  # fmt: skip


def report_cold(cold: dict[str, Any]) -> None:
    base = "import boto3; boto3.client('s3')"
    median, best = cold["cold_s"], cold["cold_best_s"]
    table(
        f"Cold start from the zip ({cold['python']}, byte-code; {cold['runs']} fresh processes each)",
        ["", "median ms", "× boto3 + client", "best ms", "× (best)"],
        [[name, f"{median[name] * 1000:.1f}", f"{median[name] / median[base]:.3f}",
          f"{best[name] * 1000:.1f}", f"{best[name] / best[base]:.3f}"] for name in median],
    )  # fmt: skip
    print(f"modules loaded after a primary pass: {cold['modules_after_primary_pass']}; "
          f"zip {cold['zip_bytes'] / 1e6:.1f} MB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--before", metavar="REV", help="the reference commit (e.g. the one the branch started from)"
    )
    parser.add_argument("--misses", type=int, default=20, help="CloudFront misses per scenario")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds the misses are split into")
    parser.add_argument("--runs", type=int, default=9, help="fresh processes per cold-start measurement")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds S3 waits before each answer")
    parser.add_argument(
        "--quick", action="store_true", help="write under benchmarks/results/ (not committed)"
    )
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 part (cold start only)")
    args = parser.parse_args()
    os.environ.update(AWS_ENV)  # moto takes any credentials; botocore needs some to sign with
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the S3 log is ours; not one line per request

    with tempfile.TemporaryDirectory(prefix="bench-before-") as tmp:
        before = unpack(args.before, Path(tmp)) if args.before else None
        s3 = {} if args.no_s3 else s3_per_miss(before, args.misses, args.latency, args.rounds)
    cold = cold_start(args.runs)
    results: dict[str, Any] = {
        "before": args.before,
        "latency_s": args.latency,
        "misses_per_scenario": args.misses,
        "rounds": args.rounds,
        "s3_per_miss": s3,
        "cold_start": cold,
    }

    if s3:
        report_s3(s3, args.latency, args.misses)
    if cold is not None:
        report_cold(cold)
    from benchmarks import record

    record.write("edge", results, quick=args.quick)


if __name__ == "__main__":
    main()
