"""What a Lambda zip without byte-code costs at cold start: imports with and without .pyc.

Lambda's code directory is read-only, so a zip without ``__pycache__`` makes
Python compile every module it imports on every cold start. This builds the zip
for this machine's Python (``build-lambda --host-platform``, which can compile),
unzips it twice (with its .pyc files, and without), and times in fresh
``python -I -S -B`` processes, with only the package on ``sys.path``:

- ``hit``: ``import edge.handler`` (what a primary pass, a hit behind the origin group, loads);
- ``render``: the full edge (``edge.flow``: botocore, pydantic), the render pipeline and
  Pillow on top (the first miss rendered here, on the failover pass);
- ``enqueue``: the full edge and Celery on top (the first miss queued).

Medians of ``--runs`` interleaved runs; JSON in ``docs/benchmarks/bytecode.json``.
``cli/lambda_zip.py`` quotes the differences when it cannot compile.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

PATHS = {
    "hit": "import edge.handler",
    "render": "import edge.handler, edge.flow, core.processing.pipeline",
    "enqueue": "import edge.handler, edge.flow, edge.queue, celery, kombu.transport.redis",
}


def timed(folder: Path, statement: str) -> float:
    code = f"import sys, time; sys.path.insert(0, {str(folder)!r}); t = time.perf_counter(); {statement}; "
    code += "print(time.perf_counter() - t)"
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", code], capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="write under benchmarks/results/")
    args = parser.parse_args()
    from cli.lambda_zip import build

    samples: dict[str, dict[str, list[float]]] = {p: {"with .pyc": [], "without .pyc": []} for p in PATHS}
    with tempfile.TemporaryDirectory() as tmp:
        built = build(Path(tmp) / "edge.zip", lambda_platform=False)
        assert built.compiled
        folders = {"with .pyc": Path(tmp) / "compiled", "without .pyc": Path(tmp) / "sources"}
        with zipfile.ZipFile(built.path) as archive:
            archive.extractall(folders["with .pyc"])
        shutil.copytree(
            folders["with .pyc"], folders["without .pyc"], ignore=shutil.ignore_patterns("__pycache__")
        )
        for _ in range(args.runs):  # interleaved, so load changes touch every row alike
            for path, statement in PATHS.items():
                for state, folder in folders.items():
                    samples[path][state].append(timed(folder, statement))
    medians = {
        p: {s: statistics.median(v) * 1000 for s, v in states.items()} for p, states in samples.items()
    }
    results: dict[str, Any] = {
        "import_ms": medians,
        "extra_ms_without_pyc": {p: m["without .pyc"] - m["with .pyc"] for p, m in medians.items()},
        "runs": args.runs,
    }
    print(
        f"{'cold import (median of ' + str(args.runs) + ')':<34}{'with .pyc':>12}{'without':>12}{'extra':>10}"
    )
    for path, m in medians.items():
        extra = m["without .pyc"] - m["with .pyc"]
        print(f"{path:<34}{m['with .pyc']:>9.0f} ms{m['without .pyc']:>9.0f} ms{extra:>7.0f} ms")
    from benchmarks import record

    record.write("bytecode", results, quick=args.quick)


if __name__ == "__main__":
    main()
